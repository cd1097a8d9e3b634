"""Configuration options (oslo.config) and helpers to build a ConfigOpts for a service.

Every service gets its own ``ConfigOpts`` from :func:`agent.conf.service.make_conf`, so
tests can run several services in one process without sharing global state.
"""
