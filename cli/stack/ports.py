"""Port checks for the local stack and the tests."""

from __future__ import annotations

import socket
from collections.abc import Collection

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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
