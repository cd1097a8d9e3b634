#!/usr/bin/env bash
# netnode devstack plugin: installs, configures and runs netnode's DHCP, L3 and
# metadata agents in place of Neutron's q-dhcp, q-l3 and q-meta.
# Sourced by devstack as: source plugin.sh <mode> [phase]  (see devstack/README.rst)

_XTRACE_NETNODE=$(set +o | grep xtrace)
set -o xtrace

# The agents run as root (namespaces, OVS ports, dnsmasq/haproxy children): the
# command run_process gets must be absolute and without sudo, so the user is given.
NETNODE_AGENT_USER=${NETNODE_AGENT_USER:-root}

function install_netnode {
    setup_develop "$NETNODE_DIR"
    if is_ubuntu; then
        install_package dnsmasq-base haproxy radvd
    else
        install_package dnsmasq haproxy radvd
    fi
    # The user the metadata proxies drop to (as etc/sysusers.d/netnode.conf declares).
    if ! getent passwd "$NETNODE_METADATA_PROXY_USER" >/dev/null; then
        sudo useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin "$NETNODE_METADATA_PROXY_USER"
    fi
}

# One agent config file: the generated sample plus what devstack knows.
function _configure_netnode_agent_file {
    local sample=$1 conf=$2
    cp "$NETNODE_SAMPLE_DIR/$sample" "$conf"
    iniset "$conf" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"
    iniset "$conf" DEFAULT host "$(hostname)"
    iniset "$conf" DEFAULT state_path "$NETNODE_STATE_PATH"
    iniset "$conf" DEFAULT transport_url "$(get_transport_url)"
    iniset "$conf" AGENT report_interval "$NETNODE_REPORT_INTERVAL"
    iniset "$conf" ovs integration_bridge "$NETNODE_INTEGRATION_BRIDGE"
    iniset "$conf" ovs external_bridge "$NETNODE_EXTERNAL_BRIDGE"
    iniset "$conf" ovs datapath_type "$NETNODE_DATAPATH_TYPE"
    iniset "$conf" ovs local_vlan_tagging "$NETNODE_LOCAL_VLAN_TAGGING"
    iniset "$conf" DEFAULT metadata_proxy_user "$NETNODE_METADATA_PROXY_USER"
    iniset "$conf" DEFAULT metadata_proxy_group "$NETNODE_METADATA_PROXY_USER"
}

function configure_netnode {
    if [[ -z "$NETNODE_LOCAL_VLAN_TAGGING" ]]; then
        NETNODE_LOCAL_VLAN_TAGGING=True
        if is_service_enabled q-agt neutron-agent; then
            NETNODE_LOCAL_VLAN_TAGGING=False
        fi
    fi
    OSLO_CONFIG_GENERATOR=$NETNODE_BIN_DIR/oslo-config-generator \
        "$NETNODE_DIR/tools/generate-config-samples.sh" "$NETNODE_SAMPLE_DIR"
    sudo install -d -o "$STACK_USER" "$NETNODE_CONF_DIR"
    sudo install -d "$NETNODE_STATE_PATH"
    _configure_netnode_agent_file dhcp_agent.ini.sample "$NETNODE_DHCP_CONF_FILE"
    _configure_netnode_agent_file l3_agent.ini.sample "$NETNODE_L3_CONF_FILE"
    _configure_netnode_agent_file metadata_agent.ini.sample "$NETNODE_META_CONF_FILE"
    # The metadata agent answers from Nova's metadata API (Neutron's option names).
    iniset "$NETNODE_META_CONF_FILE" DEFAULT metadata_backend "$NETNODE_METADATA_BACKEND"
    iniset "$NETNODE_META_CONF_FILE" DEFAULT nova_metadata_host "${Q_META_DATA_IP:-$SERVICE_HOST}"
    iniset "$NETNODE_META_CONF_FILE" DEFAULT metadata_proxy_shared_secret "$(_netnode_metadata_secret)"
    configure_netnode_nova
    # devstack's q-l3 configuration makes the public bridge (PUBLIC_BRIDGE_MTU,
    # bridge-id) or the public veth pair (Q_USE_PUBLIC_VETH): do it for netnode-l3.
    if is_service_enabled netnode-l3 && ! is_service_enabled q-l3 neutron-l3 \
            && is_neutron_ovs_base_plugin; then
        _neutron_ovs_base_configure_l3_agent
    fi
}

function _netnode_metadata_secret {
    echo "${NETNODE_METADATA_SHARED_SECRET:-$SERVICE_PASSWORD}"
}

# devstack's create_nova_conf_neutron sets [neutron] service_metadata_proxy only when
# q-meta runs: Nova answers the forwarded requests only with it (and checks their
# signature with the shared secret).  configure_neutron_nova edits nova.conf in the
# background at this phase: wait for it first, so the two do not race.
function configure_netnode_nova {
    if ! is_service_enabled netnode-meta || ! is_service_enabled nova; then
        return 0
    fi
    async_wait configure_neutron_nova
    _netnode_nova_metadata_proxy "$NOVA_CONF"
    local i
    if [[ "${CELLSV2_SETUP:-}" == "superconductor" ]]; then
        for i in $(seq 1 "$NOVA_NUM_CELLS"); do
            _netnode_nova_metadata_proxy "$(conductor_conf "$i")"
        done
    fi
}

function _netnode_nova_metadata_proxy {
    iniset "$1" neutron service_metadata_proxy True
    iniset "$1" neutron metadata_proxy_shared_secret "$(_netnode_metadata_secret)"
}

function start_netnode {
    if is_service_enabled netnode-dhcp; then
        run_process netnode-dhcp "$NETNODE_DHCP_BINARY --config-file $NEUTRON_CONF --config-file $NETNODE_DHCP_CONF_FILE" "" "$NETNODE_AGENT_USER"
    fi
    if is_service_enabled netnode-l3; then
        run_process netnode-l3 "$NETNODE_L3_BINARY --config-file $NEUTRON_CONF --config-file $NETNODE_L3_CONF_FILE" "" "$NETNODE_AGENT_USER"
    fi
    if is_service_enabled netnode-meta; then
        run_process netnode-meta "$NETNODE_META_BINARY --config-file $NEUTRON_CONF --config-file $NETNODE_META_CONF_FILE" "" "$NETNODE_AGENT_USER"
    fi
}

# What devstack does on the host only when q-l3 runs (lib/neutron_plugins/services/l3:
# _configure_public_network_connectivity, and the public bridge parts of
# _neutron_configure_router_v4/v6), done here for netnode-l3 once the initial
# networks exist: NAT for FLOATING_RANGE (or PUBLIC_INTERFACE moved onto the
# bridge), the public subnet's gateway address on the external bridge, routes to
# the private ranges via the router's gateway, IPv6 forwarding and RAs.
# (devstack's router_id setting is not needed: neither Neutron's L3 agent nor
# netnode's reads it; the agent hosts the routers neutron-server schedules to it.)
function configure_netnode_public_bridge {
    if ! is_service_enabled netnode-l3 || is_service_enabled q-l3 neutron-l3; then
        return 0
    fi
    if [[ "$NEUTRON_CREATE_INITIAL_NETWORKS" != "True" || -z "${ROUTER_ID:-}" ]]; then
        return 0
    fi
    is_neutron_ovs_base_plugin || return 0
    _configure_public_network_connectivity
    local dev
    dev=$(_neutron_get_ext_gw_interface)
    if [[ "$IP_VERSION" =~ 4 && -n "${PUB_SUBNET_ID:-}" ]]; then
        _netnode_public_bridge_v4 "$dev"
    fi
    if [[ "$IP_VERSION" =~ 6 ]]; then
        _netnode_public_bridge_v6 "$dev"
    fi
}

# The address of the router's gateway port of IP version $1 (4 or 6), or nothing.
function _netnode_router_gw_ip {
    local addresses address
    addresses=$(openstack --os-cloud devstack-admin --os-region "$REGION_NAME" router show "$ROUTER_ID" -f json -c external_gateway_info | grep -oE '"ip_address": "[^"]+"' | cut -d'"' -f4)
    for address in $addresses; do
        if [[ ( "$1" == 6 && "$address" == *:* ) || ( "$1" == 4 && "$address" != *:* ) ]]; then
            echo "$address"
            return 0
        fi
    done
    return 0
}

function _netnode_public_bridge_v4 {
    local dev=$1 gateway router_gw range
    gateway=${PUBLIC_NETWORK_GATEWAY:-$(openstack --os-cloud devstack-admin --os-region "$REGION_NAME" subnet show "$PUB_SUBNET_ID" -f value -c gateway_ip)}
    if [[ -n "$gateway" ]] && [[ "$Q_USE_PROVIDERNET_FOR_PUBLIC" == "False" || "$Q_USE_PUBLIC_VETH" == "True" || "$Q_ASSIGN_GATEWAY_TO_PUBLIC_BRIDGE" == "True" ]]; then
        if ! ip -o addr show dev "$dev" | grep -qF " $gateway/"; then
            sudo ip addr add "$gateway/${FLOATING_RANGE#*/}" dev "$dev"
        fi
        sudo ip link set "$dev" up
    fi
    router_gw=$(_netnode_router_gw_ip 4)
    if [[ -n "$router_gw" ]]; then
        range=${SUBNETPOOL_PREFIX_V4:-}
        if [[ -z "${SUBNETPOOL_V4_ID:-}" ]]; then
            range=$FIXED_RANGE
        fi
        sudo ip route replace "$range" via "$router_gw" dev "$dev"
    fi
}

function _netnode_public_bridge_v6 {
    local dev=$1 d router_gw range
    for d in ${default_v6_route_devs:-}; do
        sudo sysctl -w "net/ipv6/conf/$d/accept_ra=2"
    done
    sudo sysctl -w net.ipv6.conf.all.forwarding=1
    router_gw=$(_netnode_router_gw_ip 6)
    [[ -n "$router_gw" ]] || return 0
    sudo ip link set "$dev" up
    sudo ip -6 addr replace "$IPV6_PUBLIC_NETWORK_GATEWAY/${IPV6_PUBLIC_RANGE#*/}" dev "$dev"
    range=${SUBNETPOOL_PREFIX_V6:-}
    if [[ -z "${SUBNETPOOL_V6_ID:-}" ]]; then
        range=$FIXED_RANGE_V6
    fi
    sudo ip -6 route replace "$range" via "$router_gw" dev "$dev"
}

# devstack's configure_tempest drops l3_agent_scheduler from the network API
# extensions tempest tests when q-l3 is off; netnode-l3 is an L3 agent neutron-server
# schedules routers to, so it is back on the list.
function configure_netnode_tempest {
    if ! is_service_enabled tempest || ! is_service_enabled netnode-l3; then
        return 0
    fi
    local extensions
    extensions=$(iniget "$TEMPEST_CONFIG" network-feature-enabled api_extensions)
    if [[ -n "$extensions" && "$extensions" != "all" && ",$extensions," != *",l3_agent_scheduler,"* ]]; then
        iniset "$TEMPEST_CONFIG" network-feature-enabled api_extensions "$extensions,l3_agent_scheduler"
    fi
}

# The units use KillMode=process: children outlive stop_process.  Stop only the
# dnsmasq/haproxy processes named in our pid files whose command line carries our
# state path, never anything else.
function _reap_netnode_children {
    local pid_file pid
    for pid_file in "$NETNODE_STATE_PATH"/dhcp/*/pid "$NETNODE_STATE_PATH"/external/pids/*.pid.*; do
        [[ -f "$pid_file" ]] || continue
        pid=$(sudo cat "$pid_file")
        [[ "$pid" =~ ^[0-9]+$ ]] || continue
        if sudo cat "/proc/$pid/cmdline" 2>/dev/null | tr '\0' ' ' | grep -qF -- "$NETNODE_STATE_PATH"; then
            sudo kill "$pid" || true
        fi
    done
}

function stop_netnode {
    stop_process netnode-dhcp
    stop_process netnode-l3
    stop_process netnode-meta
    _reap_netnode_children
}

function cleanup_netnode {
    local conf_args="--config-file $NETNODE_DHCP_CONF_FILE --config-file $NETNODE_L3_CONF_FILE"
    sudo "$NETNODE_NETNS_CLEANUP_BINARY" --force $conf_args || true
    sudo "$NETNODE_OVS_CLEANUP_BINARY" $conf_args || true
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing netnode"
    install_netnode
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring netnode"
    configure_netnode
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    echo_summary "Starting netnode agents"
    start_netnode
    configure_netnode_public_bridge
elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
    configure_netnode_tempest
fi

if [[ "$1" == "unstack" ]]; then
    stop_netnode
fi

if [[ "$1" == "clean" ]]; then
    cleanup_netnode
fi

$_XTRACE_NETNODE
