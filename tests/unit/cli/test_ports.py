"""Ports the tests give the servers they start (`cli.stack.ports.free_port`)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cli.stack import ports


def _ephemeral_start() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])


def test_ports_come_from_below_the_ephemeral_range_and_never_twice() -> None:
    # An outgoing connection takes its local port from the ephemeral range: a port from
    # there could be taken before the server the test starts binds it.
    found = [ports.free_port() for _ in range(300)]
    assert len(set(found)) == len(found)
    assert all(20_000 <= port < _ephemeral_start() - 1_000 for port in found)


def test_a_port_something_listens_on_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        # The range is one port wide and held: the kernel's own choice is given instead.
        monkeypatch.setattr(ports, "_LOWEST", taken)
        room = ports._ROOM_FOR_REPLICAS
        monkeypatch.setattr(ports, "_ephemeral_start", lambda: taken + 1 + room)
        port = ports.free_port()
        assert port != taken
        assert ports.port_is_free(port)


def test_with_no_room_below_the_ephemeral_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tiny = tmp_path / "ip_local_port_range"
    tiny.write_text("1024\t60999\n")
    monkeypatch.setattr(ports, "_EPHEMERAL_RANGE", tiny)
    port = ports.free_port()
    assert port >= 1024
    assert ports.port_is_free(port)
