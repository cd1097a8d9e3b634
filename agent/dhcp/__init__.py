"""The DHCP agent: dnsmasq per network, rendered from typed desired state."""
