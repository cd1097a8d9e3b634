"""The reconcile framework both agents run on: work queue, full-sync runner,
plans of typed actions, per-key status."""
