"""SQLAlchemy 2 models.  Uniqueness that races could break lives in the schema.

* one address per network: unique (network_id, ip_address) on ``ipallocations``;
* one MAC per network: unique (network_id, mac_address) on ``ports``;
* one agent per (agent_type, host); one binding per (router, L3 agent) (an HA
  router has several, a legacy one has one: the scheduler's rule);
* one HA network per project, one VRID per (HA network, router), one HA port
  per (router, L3 agent).
"""

from __future__ import annotations

import datetime

import sqlalchemy as sa
from sqlalchemy import (JSON, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary,
                        String, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


ID = String(36)


class Base(DeclarativeBase):
    pass


class StandardAttrs:
    """Columns every API resource has."""
    name: Mapped[str] = mapped_column(String(255), default='')
    project_id: Mapped[str | None] = mapped_column(String(255), index=True)
    description: Mapped[str] = mapped_column(String(255), default='')
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)


class Network(StandardAttrs, Base):
    __tablename__ = 'networks'
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default='ACTIVE')
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    mtu: Mapped[int] = mapped_column(Integer)
    network_type: Mapped[str | None] = mapped_column(String(32))
    physical_network: Mapped[str | None] = mapped_column(String(64))
    segmentation_id: Mapped[int | None] = mapped_column(Integer)
    availability_zone_hints: Mapped[list] = mapped_column(JSON, default=list)
    subnets: Mapped[list[Subnet]] = relationship(
        back_populates='network', order_by='Subnet.id', cascade='all, delete-orphan',
        passive_deletes=True)


class Subnet(StandardAttrs, Base):
    __tablename__ = 'subnets'
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'), index=True)
    cidr: Mapped[str] = mapped_column(String(64))
    ip_version: Mapped[int] = mapped_column(Integer)
    gateway_ip: Mapped[str | None] = mapped_column(String(64))
    enable_dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    ipv6_address_mode: Mapped[str | None] = mapped_column(String(16))
    ipv6_ra_mode: Mapped[str | None] = mapped_column(String(16))
    allocation_pools: Mapped[list] = mapped_column(JSON, default=list)   # [{start, end}]
    dns_nameservers: Mapped[list] = mapped_column(JSON, default=list)    # [str]
    host_routes: Mapped[list] = mapped_column(JSON, default=list)        # [{destination, nexthop}]
    network: Mapped[Network] = relationship(back_populates='subnets')


class Port(StandardAttrs, Base):
    __tablename__ = 'ports'
    __table_args__ = (UniqueConstraint('network_id', 'mac_address',
                                       name='uniq_ports0network_id0mac_address'),
                      Index('ix_ports_device', 'device_id', 'device_owner'))
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default='DOWN')
    device_id: Mapped[str] = mapped_column(String(255), default='')
    device_owner: Mapped[str] = mapped_column(String(255), default='')
    host: Mapped[str] = mapped_column(String(255), default='')
    extra_dhcp_opts: Mapped[list] = mapped_column(JSON, default=list)
    fixed_ips: Mapped[list[IPAllocation]] = relationship(
        order_by='IPAllocation.id', cascade='all, delete-orphan', passive_deletes=True,
        lazy='selectin')


class IPAllocation(Base):
    __tablename__ = 'ipallocations'
    __table_args__ = (UniqueConstraint('network_id', 'ip_address',
                                       name='uniq_ipallocations0network_id0ip_address'),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey('ports.id', ondelete='CASCADE'), index=True)
    subnet_id: Mapped[str] = mapped_column(
        ID, ForeignKey('subnets.id', ondelete='CASCADE'), index=True)
    network_id: Mapped[str] = mapped_column(ID)
    ip_address: Mapped[str] = mapped_column(String(64))


class Router(StandardAttrs, Base):
    __tablename__ = 'routers'
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default='ACTIVE')
    gw_port_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey('ports.id', ondelete='SET NULL'))
    enable_snat: Mapped[bool] = mapped_column(Boolean, default=True)
    routes: Mapped[list] = mapped_column(JSON, default=list)
    availability_zone_hints: Mapped[list] = mapped_column(JSON, default=list)
    # Neutron keeps these two in router_extra_attributes.
    ha: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa.false())
    ha_vr_id: Mapped[int] = mapped_column(Integer, default=0, server_default='0')


class FloatingIP(StandardAttrs, Base):
    __tablename__ = 'floatingips'
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    floating_ip_address: Mapped[str] = mapped_column(String(64))
    floating_network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'))
    floating_port_id: Mapped[str] = mapped_column(
        ID, ForeignKey('ports.id', ondelete='CASCADE'))
    fixed_port_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey('ports.id', ondelete='SET NULL'), index=True)
    fixed_ip_address: Mapped[str | None] = mapped_column(String(64))
    router_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey('routers.id', ondelete='SET NULL'), index=True)
    last_known_router_id: Mapped[str | None] = mapped_column(ID)
    status: Mapped[str] = mapped_column(String(16), default='DOWN')


class Agent(Base):
    __tablename__ = 'agents'
    __table_args__ = (UniqueConstraint('agent_type', 'host',
                                       name='uniq_agents0agent_type0host'),)
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    agent_type: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    admin_state_up: Mapped[bool] = mapped_column(Boolean, default=True)
    configurations: Mapped[dict] = mapped_column(JSON, default=dict)
    resource_versions: Mapped[dict | None] = mapped_column(JSON)
    load: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str | None] = mapped_column(String(255))
    resources_synced: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_timestamp: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)


class NetworkDhcpAgentBinding(Base):
    __tablename__ = 'networkdhcpagentbindings'
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'), primary_key=True)
    dhcp_agent_id: Mapped[str] = mapped_column(
        ID, ForeignKey('agents.id', ondelete='CASCADE'), primary_key=True, index=True)


class RouterL3AgentBinding(Base):
    __tablename__ = 'routerl3agentbindings'
    router_id: Mapped[str] = mapped_column(
        ID, ForeignKey('routers.id', ondelete='CASCADE'), primary_key=True)
    l3_agent_id: Mapped[str] = mapped_column(
        ID, ForeignKey('agents.id', ondelete='CASCADE'), primary_key=True, index=True)


class HARouterNetwork(Base):
    """The HA network of a project (Neutron's ``ha_router_networks``)."""
    __tablename__ = 'ha_router_networks'
    project_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'), unique=True)


class HARouterVRIdAllocation(Base):
    """A VRRP router id taken on an HA network (``ha_router_vrid_allocations``)."""
    __tablename__ = 'ha_router_vrid_allocations'
    network_id: Mapped[str] = mapped_column(
        ID, ForeignKey('networks.id', ondelete='CASCADE'), primary_key=True)
    vr_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class HARouterAgentPortBinding(Base):
    """An HA router's port on one L3 agent and the state that agent reports
    (``ha_router_agent_port_bindings``)."""
    __tablename__ = 'ha_router_agent_port_bindings'
    __table_args__ = (UniqueConstraint('router_id', 'l3_agent_id',
                                       name='uniq_ha_router_agent_port_bindings0'
                                            'router_id0l3_agent_id'),)
    port_id: Mapped[str] = mapped_column(
        ID, ForeignKey('ports.id', ondelete='CASCADE'), primary_key=True)
    router_id: Mapped[str] = mapped_column(
        ID, ForeignKey('routers.id', ondelete='CASCADE'), index=True)
    l3_agent_id: Mapped[str | None] = mapped_column(
        ID, ForeignKey('agents.id', ondelete='CASCADE'), index=True)
    state: Mapped[str] = mapped_column(String(16), default='standby',
                                       server_default='standby')


class InstanceMetadata(Base):
    """Per-instance data the metadata agent serves (no compute service here).

    Keyed by the ``device_id`` of the instance's ports; see
    :mod:`agent.controller.instances`.
    """
    __tablename__ = 'instancemetadata'
    device_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default='')
    hostname: Mapped[str] = mapped_column(String(255), default='')
    project_id: Mapped[str | None] = mapped_column(String(255), index=True)
    availability_zone: Mapped[str | None] = mapped_column(String(255))
    user_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    public_keys: Mapped[dict] = mapped_column(JSON, default=dict)     # {name: key}
    vendor_data: Mapped[dict] = mapped_column(JSON, default=dict)
    revision_number: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime.datetime] = mapped_column(DateTime, default=utcnow,
                                                          onupdate=utcnow)
