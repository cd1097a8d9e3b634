"""Instance metadata: the haproxy proxies in qdhcp-/qrouter- namespaces and the agent
behind them.

    VM -> 169.254.169.254 -> haproxy (qrouter-<router> :9697 behind the REDIRECT, or
    qdhcp-<net> 169.254.169.254:80) -> unix socket ``metadata_proxy_socket`` ->
    netnode-metadata-agent (agent.metadata.agent) -> controller over q-plugin

An agent that runs proxies needs only (``metadata_proxy_opts`` are registered by
``DHCP_AGENT_GROUPS`` and ``L3_AGENT_GROUPS``)::

    spec = haproxy.metadata_proxy_spec(
        uuid, 'network' or 'router', namespace, conf.state_path,
        bind_address, bind_port, user, group, socket_path=conf.metadata_proxy_socket)
    children.run(children.plan(spec), resource)     # agent.process.children

With ``metadata_proxy_mode = shared`` one proxy per agent holds a listening socket
in every namespace instead (agent.metadata.node_proxy, the agent's side;
agent.metadata.shared_proxy, the process; agent.metadata.http_rewrite, what it
does to a request)::

    listener = node_proxy.ListenerSpec(uuid, 'router', namespace, '::', 9697)
    proxy.current(listener) or proxy.ensure(listener); proxy.remove(uuid)

Either proxy strips every identity header a VM can send and adds its network or
router id; the agent trusts nothing else (agent.metadata.server).
"""
