"""The L3 agent: routers, external gateways, SNAT and floating IPs on this node."""
