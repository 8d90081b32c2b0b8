"""keep_freed_memory: a freed 40 MiB tensor's pages are reused, not faulted in again."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys
import torch
from tune_gae.train.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else False
for _ in range(15):  # the heap settles (it grows a few times first)
    torch.empty(10 << 20).fill_(1.0)  # 40 MiB: above glibc's largest automatic mmap threshold (32 MiB)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    torch.empty(10 << 20).fill_(1.0)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(code: str, mode: str) -> list[str]:
    """What a fresh Python running ``code`` with argument ``mode`` prints, split into words."""
    return subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, check=True).stdout.split()


def _page_faults(mode: str) -> tuple[str, int]:
    applied, faults = _probe(PROBE, mode)
    return applied, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_without_page_faults() -> None:
    default_applied, default_faults = _page_faults("default")
    kept_applied, kept_faults = _page_faults("keep")
    assert (default_applied, kept_applied) == ("False", "True")
    pages = (40 << 20) // 4096
    assert default_faults >= 4 * pages  # each of the 5 tensors faulted in afresh
    assert kept_faults < pages // 10  # the heap's pages were reused


RELEASE_PROBE = """
import sys
from tune_gae.train.allocator import release_freed_memory
def resident_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
chunks = [bytes(2048) for _ in range(100_000)]  # 200 MiB of malloc'd chunks (above pymalloc's 512 B)
kept = chunks[::16]  # every 16th stays alive: the freed ones lie between live chunks, not at the top
del chunks
before = resident_mib()
released = release_freed_memory() if sys.argv[1] == "release" else False
print(released, before - resident_mib())
"""


def _released_mib(mode: str) -> tuple[str, float]:
    released, mib = _probe(RELEASE_PROBE, mode)
    return released, float(mib)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_release_freed_memory_hands_back_the_pages_between_live_chunks() -> None:
    assert _released_mib("keep")[1] < 10  # glibc alone keeps them
    released, mib = _released_mib("release")
    assert released == "True" and mib > 100  # most of the ~190 MiB freed between the live chunks


COMMAND_PROBE = """
import sys
from tune_gae.cli.main import main
from tune_gae.train import allocator
try:
    main([sys.argv[1], "--help"], standalone_mode=False)
finally:
    print("KEPT", allocator._applied, file=sys.stderr)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize(("command", "kept"), [("search", False), ("resume", False), ("train", True)])
def test_a_search_driver_hands_freed_memory_back_and_training_commands_keep_it(command: str, kept: bool) -> None:
    out = subprocess.run([sys.executable, "-c", COMMAND_PROBE, command], capture_output=True, text=True, check=True)
    assert f"KEPT {kept}" in out.stderr
