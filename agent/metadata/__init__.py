"""Metadata proxy (haproxy) configuration for qdhcp- and qrouter- namespaces."""
