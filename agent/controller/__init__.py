"""The controller's core: database, IPAM, validation, scheduling and the Plugin facade.

The REST layer and the RPC endpoints both call :class:`agent.controller.plugin.Plugin`.
"""
