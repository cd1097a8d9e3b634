"""Host-side pieces shared by the agents: ports plugged into namespaces.

A DHCP tap, a router's qr-/qg- port and a probe are all the same thing on the
host: an OVS internal port whose kernel device lives in a namespace with a MAC,
an MTU, addresses and maybe a default route.  :mod:`device` plans it,
:mod:`executor` applies the plan through the drivers.
"""
