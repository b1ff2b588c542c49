"""Where a webhook may be sent (SSRF).

In live mode an endpoint must not reach the deployment's own network: URLs whose host is, or
resolves to, a private, loopback, link-local or otherwise non-public address are refused
when the endpoint is saved and again at every delivery, since DNS may have changed. At
delivery the addresses checked are the ones connected to (`PublicOnlyResolver`), so a name
that resolves differently the second time cannot slip through. Test mode allows them all:
developers point endpoints at their own machines.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.events.errors import UrlNotAllowedError

MAX_URL_LENGTH = 2048
_RESOLVE_TIMEOUT = 3.0


def check_syntax(url: str) -> str:
    """An absolute http(s) URL with a host; the reason it is not, as a 400."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowedError(f"url is longer than {MAX_URL_LENGTH} characters.")
    if any(char.isspace() for char in url) or not url.isprintable():
        raise UrlNotAllowedError("url must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlNotAllowedError("url is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlNotAllowedError("url must start with http:// or https://.")
    if not parts.hostname:
        raise UrlNotAllowedError("url has no host.")
    if port == 0:
        raise UrlNotAllowedError("url has no valid port.")
    return url


def is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP address, else None."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def refusal(host: str) -> str:
    return f"url host {host!r} is a private, loopback or link-local address (live mode)."


async def check_public(url: str) -> None:
    """Refuse a URL whose host is or resolves to a non-public address.

    A name that does not resolve now is accepted: it cannot be shown to be private, and
    every delivery checks again.
    """
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    if literal is not None:
        if not is_public(literal):
            raise UrlNotAllowedError(refusal(host))
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), _RESOLVE_TIMEOUT
        )
    except (OSError, TimeoutError):
        return
    if any(not is_public(str(info[4][0])) for info in infos):
        raise UrlNotAllowedError(refusal(host))


class PrivateAddressError(OSError):
    pass


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses names that reach non-public addresses."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if any(not is_public(result["host"]) for result in results):
            raise PrivateAddressError(refusal(host))
        return results

    async def close(self) -> None:
        await self._inner.close()
