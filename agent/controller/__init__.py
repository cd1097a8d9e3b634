"""The controller's core: database, IPAM, validation, scheduling and the Plugin facade.

The REST layer and the RPC endpoints both call :class:`agent.controller.plugin.Plugin`.

* ``plugin``: the facade; one retried transaction per call, notifications after commit.
* ``networks``, ``ports``, ``routers``, ``floatingips``, ``agents``: what each call
  does inside its transaction (a :class:`agent.controller.txn.Txn`).
* ``dhcp_queries``, ``l3_queries``: what the agents' RPC calls read and write, as
  ``queries`` is for the API's list and show calls (a ``*queries`` module runs in a
  transaction).
* ``rpc_server``: Neutron's RPC endpoints and their servers; ``metadata_rpc``: the
  metadata agent's endpoint (a ``*_rpc`` module is an endpoint); ``rpc_endpoint``:
  what every endpoint shares (argument checks, error logging).
* ``scheduler``: which agent hosts which network and router; ``events``: the
  notifications of Neutron's agent protocol, put into the transaction's outbox.
* ``validation``, ``ipam``, ``wire``: pure validators, address choice, wire dicts.
* ``db``: models and the engine; ``migrations``: alembic, configured in code.
* ``exceptions``, ``context``, ``notify``: the contract shared with REST and RPC.
"""
