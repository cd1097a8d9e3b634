"""netnode: DHCP, L3 and metadata agents for cloud network nodes, and their controller."""

__version__ = "0.1.0"
