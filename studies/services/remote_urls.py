"""Which addresses the server may connect to for a PI (server-side request forgery guard): the DICOMweb servers a
study registers (QIDO-RS search, WADO-RS pull, STOW-RS send of SRs).

A PI types the URL and the server makes the requests, so without a rule a PI account (or a stolen one) could make
the server talk to itself or to its cloud: the database and Redis ports over HTTP, the metadata service at
169.254.169.254, admin services on loopback. Hospital PACS live on private networks (10/8, 172.16/12, 192.168/16,
fc00::/7), which stay allowed.

The rule (:func:`address_refusal`, :func:`url_refusal`):

- a URL is ``http`` or ``https`` with a host, and holds no user name or password (they have their own fields);
- every address the host resolves to must be allowed: refused are loopback (127.0.0.0/8, ::1), link-local
  (169.254.0.0/16 with the metadata service, fe80::/10), unspecified ("this network" 0.0.0.0/8, ::), multicast
  (224.0.0.0/4, ff00::/8) and the broadcast address 255.255.255.255, also when written as an IPv6 form of an IPv4
  address (IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d);
- exceptions are named by the administrator in ``VBQ_DICOMWEB_ALLOW_HOSTS`` (settings.DICOMWEB_ALLOW_HOSTS:
  host names, matched exactly, or addresses and CIDR ranges, matched against the resolved addresses), e.g. a PACS
  on this machine: ``VBQ_DICOMWEB_ALLOW_HOSTS=127.0.0.1``;
- never allowed, whatever the list says: the host and port of this server's own database, job queue and cache
  (``DATABASE_URL``, ``CELERY_BROKER_URL``, ``CACHE_URL``), which in docker compose are on the private network.

It is checked when a server is registered (a form or API error) and again before every connection
(:func:`guarded_session`): the host name is resolved again, each resolved address checked, and the connection made
to the checked address itself, so a name that later resolves to a refused address (DNS rebinding) is refused, and
so is each redirect (requests sends every hop through the same adapter). A host that cannot be resolved at
registration is accepted (the PACS may be unreachable from here for a while): the request-time check decides.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from functools import lru_cache
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: The environment variable an administrator sets to allow named exceptions (read into DICOMWEB_ALLOW_HOSTS).
ALLOW_SETTING = "VBQ_DICOMWEB_ALLOW_HOSTS"
SCHEMES = ("http", "https")

_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")  # RFC 1122 §3.2.1.3; Linux connects 0.0.0.0 to itself
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 §2.1


class AddressRefused(requests.ConnectionError):
    """A request to a refused address (raised before any byte is sent); ``str()`` is the message for the PI."""


class _ConnectRefused(Exception):
    """Raised inside urllib3 (not an OSError, so that urllib3 and requests let it through unchanged)."""


# --------------------------------------------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------------------------------------------


def _ipv4_inside(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible or translated form), else None."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    value = int(ip)
    if ip in _IPV4_TRANSLATED or 1 < value < 2**32:  # ::ffff:0:a.b.c.d, ::a.b.c.d (not :: and ::1 themselves)
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


def _kind(ip: IPAddress) -> str | None:
    """Why ``ip`` is refused by default (words for the PI), or None when it is allowed."""
    inner = _ipv4_inside(ip)
    if inner is not None:
        return _kind(inner)
    if ip.is_loopback:
        return _("this server itself (loopback)")
    if ip.is_link_local:
        return _("a link-local address, such as the cloud provider's metadata service")
    if ip.is_unspecified or (ip.version == 4 and ip in _THIS_NETWORK):
        return _("an unspecified address, which means this server itself")
    if ip.is_multicast or ip == _BROADCAST:
        return _("a multicast or broadcast address")
    return None


def _normalise(ip: IPAddress) -> IPAddress:
    return _ipv4_inside(ip) or ip


@lru_cache(maxsize=8)
def _parse_allow(entries: tuple[str, ...]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names, networks = set(), []
    for entry in entries:
        value = entry.strip().lower().rstrip(".").strip("[]")
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            if "/" in value or ":" in value:
                raise ImproperlyConfigured(
                    f"{ALLOW_SETTING}: {entry!r} is neither a host name, an IP address nor a CIDR range."
                ) from None
            names.add(value)
    return frozenset(names), tuple(networks)


def allow_list() -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    """The administrator's exceptions: (host names, address ranges). ImproperlyConfigured for a malformed entry."""
    return _parse_allow(tuple(getattr(settings, "DICOMWEB_ALLOW_HOSTS", ()) or ()))


def _service_endpoints() -> set[tuple[str, int]]:
    """(host, port) of this server's own database, job queue and cache, when they are network services."""
    endpoints = set()
    database = settings.DATABASES.get("default", {})
    if database.get("HOST") and not str(database["HOST"]).startswith("/"):
        endpoints.add((str(database["HOST"]), int(database.get("PORT") or 5432)))
    cache_location = settings.CACHES.get("default", {}).get("LOCATION", "")
    for url in (getattr(settings, "CELERY_BROKER_URL", ""), cache_location):
        if isinstance(url, str) and "://" in url:
            parts = urlsplit(url)
            try:
                port = parts.port
            except ValueError:
                continue
            if parts.hostname:
                endpoints.add((parts.hostname, port or 6379))
    return endpoints


def _service_addresses() -> set[tuple[IPAddress, int]]:
    found = set()
    for host, port in _service_endpoints():
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            continue
        found |= {(_normalise(ipaddress.ip_address(info[4][0].split("%")[0])), port) for info in infos}
    return found


def address_refusal(ip: IPAddress | str, *, host: str = "", port: int | None = None) -> str | None:
    """Why connecting to ``ip`` (resolved from ``host``) is refused, as a message for the PI; None when allowed."""
    ip = ipaddress.ip_address(str(ip).split("%")[0]) if isinstance(ip, str) else ip
    shown = host or str(ip)
    if port is not None and (_normalise(ip), port) in _service_addresses():
        return _(
            "%(host)s port %(port)s is one of this server's own services (its database, job queue or cache), "
            "not a PACS."
        ) % {"host": shown, "port": port}
    kind = _kind(ip)
    if kind is None:
        return None
    names, networks = allow_list()
    if host.lower().rstrip(".").strip("[]") in names or any(_normalise(ip) in net or ip in net for net in networks):
        return None
    address = str(_normalise(ip))
    where = (
        _("%(address)s is %(kind)s") % {"address": address, "kind": kind}
        if shown.strip("[]").lower() in (address, str(ip))
        else _("%(host)s leads to %(address)s, %(kind)s") % {"host": shown, "address": address, "kind": kind}
    )
    return _(
        "%(where)s. A DICOMweb server must be a PACS on the hospital network; if this really is your PACS, the "
        "administrator can allow its address with %(setting)s."
    ) % {"where": where, "setting": ALLOW_SETTING}


def resolve_checked(host: str, port: int) -> list[tuple]:
    """``socket.getaddrinfo`` results for ``host`` (stream sockets), every address allowed; raises
    :class:`_ConnectRefused` with the message when one is refused (a name resolving to an allowed and a refused
    address is refused: the refused one may be the one connected to), ``socket.gaierror`` when it does not
    resolve."""
    infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    for info in infos:
        problem = address_refusal(info[4][0], host=host, port=port)
        if problem:
            raise _ConnectRefused(problem)
    return infos


def _url_parts(url: str) -> tuple[str, str, int] | str:
    """(scheme, host, port) of ``url``, or the message saying why it cannot be used."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return _("This is not a valid address: write it as https://pacs.example.org/dicom-web.")
    if parts.scheme.lower() not in SCHEMES:
        return _("Only http:// and https:// addresses can be used, e.g. https://pacs.example.org/dicom-web.")
    if parts.username is not None or parts.password is not None:
        return _(
            "Do not put a user name or password in the address: choose the authentication and enter them in "
            "their own fields (the password is stored encrypted)."
        )
    if not parts.hostname:
        return _("The address has no host name, e.g. https://pacs.example.org/dicom-web.")
    return parts.scheme.lower(), parts.hostname, port or (443 if parts.scheme.lower() == "https" else 80)


def url_refusal(url: str, *, resolve: bool = True) -> str | None:
    """Why the server may not connect to ``url``, as a message for the PI; None when it may.

    ``resolve``: also check the addresses the host resolves to now (a host that does not resolve is not refused
    here: the connection will fail, or be checked then)."""
    parts = _url_parts(url)
    if isinstance(parts, str):
        return parts
    _scheme, host, port = parts
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        return address_refusal(literal, host=host, port=port)
    if not resolve:
        return None
    try:
        resolve_checked(host, port)
    except _ConnectRefused as exc:
        return str(exc)
    except (OSError, UnicodeError):
        return None
    return None


def check_url(url: str, **kwargs) -> None:
    """Raise :class:`AddressRefused` when the server may not connect to ``url`` (see :func:`url_refusal`)."""
    problem = url_refusal(url, **kwargs)
    if problem:
        raise AddressRefused(problem)


# --------------------------------------------------------------------------------------------------------------
# Enforcement at connection time (requests / urllib3)
# --------------------------------------------------------------------------------------------------------------


class _GuardedConnectionMixin:
    """urllib3 connection that resolves its host itself, checks every address and connects to a checked one
    (not to a second lookup of the name, which could answer differently)."""

    def _new_conn(self):  # urllib3 2.x HTTPConnection._new_conn, with the lookup checked
        try:
            infos = resolve_checked(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        error: OSError | None = None
        for info in infos:
            try:
                sock = urllib3_connection.create_connection(
                    (info[4][0], self.port),  # an address literal: no second lookup
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
                ) from exc
            except OSError as exc:
                error = exc
                continue
            sys.audit("http.client.connect", self, self.host, self.port)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter that applies the rule to every request it sends (redirect hops included) and to every
    connection it opens."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}

    def send(self, request, *args, **kwargs):
        # checked here with this server's own lookup as well: through a proxy (HTTP(S)_PROXY) the proxy connects,
        # and the connection-time check below only sees the proxy
        problem = url_refusal(request.url)
        if problem:
            raise AddressRefused(problem, request=request)
        try:
            return super().send(request, *args, **kwargs)
        except _ConnectRefused as exc:
            raise AddressRefused(str(exc), request=request) from None


def guarded_session() -> requests.Session:
    """A requests Session whose every request and connection follows the rule."""
    session = requests.Session()
    guarded = GuardedAdapter()
    for prefix in ("http://", "https://", ""):  # "": any other scheme (a redirect to file://) gets the message
        session.mount(prefix, guarded)
    return session
