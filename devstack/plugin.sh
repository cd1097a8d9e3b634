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
fi

if [[ "$1" == "unstack" ]]; then
    stop_netnode
fi

if [[ "$1" == "clean" ]]; then
    cleanup_netnode
fi

$_XTRACE_NETNODE
