"""What may reach dnsmasq's files: one check for the REST API and the RPC codec.

dnsmasq reads its host and opts files line by line and splits each line at
commas, so a newline in any value adds a line of the caller's choosing (the
class of CVE-2021-40085) and a comma in a host-file field adds a field.  Each
function here takes a value as it came (any JSON type), returns it normalised
or raises :class:`FieldError` saying what is wrong; the caller adds the object
and the field path (``port <id>: extra_dhcp_opts[0].opt_value: ...``).

- Option names: dnsmasq's known names (``dnsmasq --help dhcp`` / ``dhcp6``) or
  a number, optionally behind one Neutron tag (``tag:ipxe,67``, ``tag:!ipxe,67``).
- Option values: at most 255 characters, commas allowed (lists, routes), no
  control character (newline, NUL, ...).
- Client ids, host names, FQDNs: fields of the host file, so no comma and no
  whitespace either.
"""

from __future__ import annotations

import re

OPT_NAME_MAX = 64                 # Neutron's DHCP_OPT_NAME_MAX_LEN
OPT_VALUE_MAX = 255               # Neutron's DHCP_OPT_VALUE_MAX_LEN
CLIENT_ID_MAX = 255
DNS_NAME_MAX = 253
CLIENT_ID_NAMES = frozenset({'client-id', '61'})

# dnsmasq 2.90 ``--help dhcp`` and ``--help dhcp6``.
DHCP4_NAMES = frozenset("""
netmask time-offset router dns-server log-server lpr-server boot-file-size domain-name
swap-server root-path extension-path ip-forward-enable non-local-source-routing
policy-filter max-datagram-reassembly default-ttl mtu all-subnets-local
router-discovery router-solicitation static-route trailer-encapsulation arp-timeout
ethernet-encap tcp-ttl tcp-keepalive nis-domain nis-server ntp-server netbios-ns
netbios-dd netbios-nodetype netbios-scope x-windows-fs x-windows-dm T1 T2 vendor-class
nis+-domain nis+-server tftp-server bootfile-name mobile-ip-home smtp-server
pop3-server nntp-server irc-server user-class rapid-commit client-arch
client-interface-id client-machine-id posix-timezone tzdb-timezone ipv6-only
domain-search sip-server classless-static-route vendor-id-encap tftp-server-address
server-ip-address client-id""".split())
DHCP6_NAMES = frozenset("""
sip-server-domain sip-server dns-server domain-search nis-server nis+-server nis-domain
nis+-domain sntp-server information-refresh-time posix-timezone tzdb-timezone
ntp-server bootfile-url bootfile-param""".split())
_MAX_CODE = {4: 254, 6: 65535}

_TAG_RE = re.compile(r'^!?[A-Za-z0-9_.-]{1,32}$')
_LABEL_RE = re.compile(r'^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$')
_CLIENT_ID_RE = re.compile(r'^[!-+\--~]+$')       # printable ASCII but space and ','


class FieldError(ValueError):
    """A value that must not reach dnsmasq; the message says why."""


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + '...'


def has_control(text: str) -> bool:
    """Newline, NUL, any C0/C1 control character or DEL."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def _text(value, max_len: int, what: str, numbers: bool = False) -> str:
    """``value`` as text (an integer too if ``numbers``), without control characters."""
    if isinstance(value, bool) or not isinstance(value, (str, int) if numbers else str):
        raise FieldError(f'{_short(value)} is not a string')
    text = str(value)
    if has_control(text):
        raise FieldError(f'{_short(text)}: {what} must not hold control characters '
                         '(newline, NUL, ...)')
    if len(text) > max_len:
        raise FieldError(f'{_short(text)}: longer than {max_len} characters')
    return text


def ip_version(value) -> int:
    if value in (4, 6, '4', '6') and not isinstance(value, bool):
        return int(value)
    raise FieldError(f'{_short(value)} is not 4 or 6')


def opt_name(value, version: int = 4) -> str:
    """``[tag:<tag>,]<name or code>`` as dnsmasq knows it for ``version``."""
    name = _text(value, OPT_NAME_MAX, 'an option name', numbers=True)
    tag, sep, rest = name.partition(',') if name.startswith('tag:') else ('', '', name)
    if sep and not _TAG_RE.match(tag[len('tag:'):]):
        raise FieldError(f'{_short(name)}: the tag must be tag:<letters, digits, . _ ->')
    if rest.isdigit() and rest.isascii():
        if not 1 <= int(rest) <= _MAX_CODE[version]:
            raise FieldError(f'{_short(name)}: option code out of 1-{_MAX_CODE[version]}')
        return name
    known = DHCP6_NAMES if version == 6 else DHCP4_NAMES
    if rest not in known:
        raise FieldError(f'{_short(name)} is not a DHCPv{version} option dnsmasq knows '
                         f'(a name of `dnsmasq --help dhcp{"6" if version == 6 else ""}` '
                         'or a number, optionally after tag:<tag>,)')
    return name


def opt_value(value, name: str = '') -> str:
    """An option's value: commas allowed, control characters not; a client id is a
    field of the host file and holds no comma or whitespace either."""
    if name in CLIENT_ID_NAMES:
        return client_id(value)
    return _text(value, OPT_VALUE_MAX, 'an option value', numbers=True)


def client_id(value) -> str:
    text = _text(value, CLIENT_ID_MAX, 'a client id')
    if not _CLIENT_ID_RE.match(text):
        raise FieldError(f'{_short(text)}: a client id is printable characters without '
                         'spaces or commas')
    return text


def dns_name(value, max_len: int = DNS_NAME_MAX) -> str:
    """A host name or FQDN (labels of letters, digits, '-', '_'; a final dot allowed),
    or ''."""
    text = _text(value, max_len, 'a DNS name')
    if text and not all(_LABEL_RE.match(label)
                        for label in (text[:-1] if text.endswith('.') else text).split('.')):
        raise FieldError(f'{_short(text)} is not a valid DNS name')
    return text


def safe_line(text: str) -> bool:
    """Whether ``text`` may be written as one line of a dnsmasq file (a tab
    separates the fields of addn_hosts; no other control character)."""
    return not has_control(text.replace('\t', ' '))
