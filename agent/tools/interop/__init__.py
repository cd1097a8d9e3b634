"""tools/neutron-interop.sh: netnode's agents as drop-ins under a real neutron-server."""
