"""Where a webhook may be sent (SSRF), as an allow-list.

A live-mode endpoint may only reach a global unicast address that is outside every range of
the IANA IPv4 and IPv6 special-purpose registries. IPv6 forms that carry an IPv4 address
(mapped, compatible, NAT64, 6to4, Teredo) are judged by the IPv4 they carry, so
`[::127.0.0.1]` is loopback however it is written; IPv4 written in the legacy numeric forms
that resolvers still accept (`2130706433`, `0x7f.1`, `127.1`) is refused outright.

The rule is applied when an endpoint is saved and again at every connection: the delivery
session's resolver (`GuardedResolver`) checks every address a name resolves to and hands the
connector only those, so a name that resolves to something else a second time (DNS
rebinding) cannot slip between check and connect.

Test mode allows every address: developers point endpoints at their own machines (and the
Stripe-CLI-style `micro listen` forwarding does the same). A deployment whose live receivers
are all on its own network may turn the rule off (`allow_private_live_urls`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NewType
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

from services.events.errors import UrlNotAllowedError

MAX_URL_LENGTH = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Every block of the IANA IPv4 special-purpose registry, plus multicast (224/4), which the
# multicast registry holds. Blocks the registry marks globally reachable (the anycast ones
# in 192.0.0.0/24, AS112) are refused too: no webhook receiver lives there.
_IPV4_SPECIAL: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "AS112 direct delegation"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
)
# Inside global unicast (2000::/3), the special-purpose registry's blocks; everything outside
# 2000::/3 (::1, fc00::/7, fe80::/10, ff00::/8, 100::/64, 64:ff9b:1::/48, 5f00::/16 ...) is
# refused as not global unicast. 2002::/16 and 2001::/32 are unwrapped before this list.
_IPV6_SPECIAL: tuple[tuple[str, str], ...] = (
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("2620:4f:8000::/48", "AS112 direct delegation"),
    ("3fff::/20", "documentation"),
)
_IPV4_BLOCKS = tuple((ipaddress.IPv4Network(net), name) for net, name in _IPV4_SPECIAL)
_IPV6_BLOCKS = tuple((ipaddress.IPv6Network(net), name) for net, name in _IPV6_SPECIAL)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_TEREDO = ipaddress.IPv6Network("2001::/32")
_UNSPECIFIED_OR_LOOPBACK = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))

# Names that never leave the machine or the site (RFC 6761, 6762, 8375, ICANN's .internal).
_LOCAL_NAMES = ("localhost", "localdomain", "local", "internal", "home.arpa", "invalid")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address stands for, or None if it carries none."""
    if ip in _MAPPED or ip in _COMPATIBLE or ip in _NAT64:
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip in _SIX_TO_FOUR:
        return [ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)]
    if ip in _TEREDO:
        # The server is bits 32-63; the client is the last 32 bits, inverted (RFC 4380).
        server = ipaddress.IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~int(ip) & 0xFFFFFFFF)
        return [server, client]
    return None


def _ipv4_refusal(ip: ipaddress.IPv4Address) -> str | None:
    for block, name in _IPV4_BLOCKS:
        if ip in block:
            return f"{name} ({block})"
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """Why a live webhook may not go to this address; None when it may."""
    if isinstance(ip, ipaddress.IPv4Address):
        return _ipv4_refusal(ip)
    if ip.scope_id:
        return "an address with a zone id (link-scoped)"
    if ip in _UNSPECIFIED_OR_LOOPBACK:
        return "unspecified" if ip == _UNSPECIFIED_OR_LOOPBACK[0] else "loopback (::1)"
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        for inner in embedded:
            reason = _ipv4_refusal(inner)
            if reason is not None:
                return f"an IPv6 form of {inner}, {reason}"
        return None
    if ip not in _GLOBAL_UNICAST:
        return "not a global unicast address"
    for block, name in _IPV6_BLOCKS:
        if ip in block:
            return f"{name} ({block})"
    return None


def parse_address(text: str) -> IPAddress | None:
    """An address as a resolver or a URL host writes it (brackets, zone id); None if not."""
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host means in a form other than dotted-quad decimal (`2130706433`,
    `0x7f.1`, `127.1`, `0177.0.0.1`), as `inet_aton` and so the system resolver read it."""
    if not host or not all(c in "0123456789abcdefxABCDEFX." for c in host):
        return None
    try:
        packed = socket.inet_aton(host)
    except OSError:
        return None
    return ipaddress.IPv4Address(packed)


def host_of(url: str) -> str:
    """The host the HTTP client (aiohttp, through yarl) will connect to, lower-case, without
    a trailing dot; the check reads the URL with the same parser that sends it."""
    return (URL(url).host or "").rstrip(".").lower()


def check_syntax(url: str) -> str:
    """An absolute http(s) URL with a host; the reason it is not, as a 400."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowedError(f"url is longer than {MAX_URL_LENGTH} characters.")
    if any(char.isspace() for char in url) or not url.isprintable():
        raise UrlNotAllowedError("url must not contain spaces or control characters.")
    if "\\" in url:
        # Parsers disagree on whether a backslash ends the host: none may be trusted.
        raise UrlNotAllowedError("url must not contain a backslash.")
    try:
        parts = urlsplit(url)
        port = parts.port
        parsed = URL(url)
    except ValueError:
        raise UrlNotAllowedError("url is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlNotAllowedError("url must start with http:// or https://.")
    if not parts.hostname or not parsed.host:
        raise UrlNotAllowedError("url has no host.")
    if port == 0:
        raise UrlNotAllowedError("url has no valid port.")
    return url


def host_refusal(host: str) -> str | None:
    """Why a live webhook may not go to this host, judged without resolving it."""
    ip = parse_address(host)
    if ip is not None:
        return address_refusal(ip)
    legacy = legacy_ipv4(host)
    if legacy is not None:
        return f"IPv4 address {legacy} in a non-standard form; write it as a.b.c.d"
    if any(host == name or host.endswith("." + name) for name in _LOCAL_NAMES):
        return "a name that only resolves locally"
    return None


def _refusal_message(host: str, reason: str) -> str:
    return f"url host {host!r} is {reason}: live webhooks only go to public addresses."


class DestinationRefusedError(OSError):
    """A live delivery's host is or resolves to an address outside the allow-list."""


def refuse_host(host: str) -> None:
    reason = host_refusal(host)
    if reason is not None:
        raise DestinationRefusedError(_refusal_message(host, reason))


def refuse_addresses(host: str, addresses: Sequence[str]) -> None:
    """Every address a name resolved to must be allowed, not only the first one tried."""
    for address in addresses:
        ip = parse_address(address)
        reason = "an unreadable address" if ip is None else address_refusal(ip)
        if reason is not None:
            message = _refusal_message(host, f"resolving to {address}, {reason}")
            raise DestinationRefusedError(message)


class GuardedResolver(AbstractResolver):
    """Resolves through `inner`, then refuses a name any of whose addresses is not allowed.

    The connector connects to exactly the addresses returned here, so what was checked is
    what is reached.
    """

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        name = host.rstrip(".").lower()
        refuse_host(name)
        results = await self.inner.resolve(host, port, family)
        refuse_addresses(name, [result["host"] for result in results])
        return results

    async def close(self) -> None:
        await self.inner.close()


async def check_live(url: str, resolver: AbstractResolver | None) -> None:
    """Refuse (400) a live URL whose host is or resolves to an address outside the allow-list.

    Without a resolver only the host as written is judged. A name that does not resolve now
    is accepted: it cannot be shown to be refused, and every delivery checks again.
    """
    host = host_of(url)
    try:
        refuse_host(host)
        if resolver is None or parse_address(host) is not None:
            return
        try:
            results = await resolver.resolve(host, 0, socket.AF_UNSPEC)
        except OSError:
            return
        refuse_addresses(host, [result["host"] for result in results])
    except DestinationRefusedError as exc:
        raise UrlNotAllowedError(str(exc)) from None


# A URL that passed `check_url`: only these are saved.
CheckedUrl = NewType("CheckedUrl", str)


@dataclass(frozen=True, slots=True)
class UrlPolicy:
    """How a saved URL is judged in live mode.

    `resolver` None judges the host as written, without a lookup: for checks made inside a
    transaction, where no network call may run. Every delivery resolves and checks again.
    """

    resolver: AbstractResolver | None
    allow_private_live: bool


async def check_url(url: str, *, livemode: bool, policy: UrlPolicy) -> CheckedUrl:
    """The URL if an endpoint of this mode may be saved with it; UrlNotAllowedError if not."""
    check_syntax(url)
    if livemode and not policy.allow_private_live:
        await check_live(url, policy.resolver)
    return CheckedUrl(url)
