"""Operator tools that ship with netnode (the all-in-one run)."""
