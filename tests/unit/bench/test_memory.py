"""Reading an app's resident memory from /proc (tests.bench._memory; no servers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bench import _memory

STATUS = """Name:\tpython
Umask:\t0022
State:\tS (sleeping)
VmPeak:\t  402716 kB
VmSize:\t  338212 kB
VmHWM:\t   95232 kB
VmRSS:\t   81920 kB
RssAnon:\t   61440 kB
Threads:\t2
"""


def test_vm_rss_is_read_in_megabytes_of_1024_kb() -> None:
    assert _memory.vm_rss_mb(STATUS) == pytest.approx(80.0)


def test_the_high_water_mark_is_not_taken_for_the_resident_set() -> None:
    # VmHWM (the peak) comes first in the file; the figure is the current VmRSS.
    assert _memory.vm_rss_mb(STATUS) != pytest.approx(95232 / 1024)


def test_a_process_without_a_resident_set_has_none() -> None:
    # Kernel threads and zombies have no Vm* lines.
    assert _memory.vm_rss_mb("Name:\tkthreadd\nState:\tS (sleeping)\n") is None


def test_another_unit_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="not kB"):
        _memory.vm_rss_mb("VmRSS:\t 80 MB\n")


def test_a_gone_process_has_none(tmp_path: Path) -> None:
    assert _memory.resident_mb(12345, proc=tmp_path) is None


def test_a_status_file_under_proc_is_read(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77" / "status").write_text(STATUS)
    assert _memory.resident_mb(77, proc=tmp_path) == pytest.approx(80.0)


def test_this_process_has_a_plausible_resident_set() -> None:
    found = _memory.resident_mb(os.getpid())
    assert found is not None
    assert 5 < found < 10_000
