"""Port checks for the local stack and the tests."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Collection
from pathlib import Path

from cli.stack.errors import StackError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves do: a port left in TIME_WAIT by a stopped server is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Where free_port looks: above the well-known and common server ports, below the kernel's
# ephemeral range (room is left under it for `micro dev up`'s replicas, which take the next
# free ports above the configured ones).
_LOWEST = 20_000
_ROOM_FOR_REPLICAS = 1_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A port nothing listens on, for a server the caller is about to start; never the same
    one twice in a process. Not from the kernel's ephemeral range when there is room below
    it: such a port can be taken between this answer and the server's bind by any outgoing
    connection (a gateway replica's metrics port was taken by a connection to PostgreSQL)."""
    highest = _ephemeral_start() - _ROOM_FOR_REPLICAS
    for _ in range(100) if highest > _LOWEST else ():
        # From the OS, not `random`: a test's random.seed() must not make two processes agree.
        port = _LOWEST + secrets.randbelow(highest - _LOWEST)
        if port not in _handed_out and port_is_free(port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    _handed_out.add(port)
    return port


def port_is_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def next_free_ports(count: int, *, after: int, taken: Collection[int] = ()) -> list[int]:
    """The first `count` free ports above `after`, none of them in `taken` (ports already
    planned for something else that is not listening yet)."""
    found: list[int] = []
    port = after
    while len(found) < count:
        port += 1
        if port > 65535:
            raise StackError(f"no {count} free ports above {after}")
        if port not in taken and port_is_free(port):
            found.append(port)
    return found
