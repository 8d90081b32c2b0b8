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


def _page_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_freed_memory_is_reused_without_page_faults() -> None:
    default_applied, default_faults = _page_faults("default")
    kept_applied, kept_faults = _page_faults("keep")
    assert (default_applied, kept_applied) == ("False", "True")
    pages = (40 << 20) // 4096
    assert default_faults >= 4 * pages  # each of the 5 tensors faulted in afresh
    assert kept_faults < pages // 10  # the heap's pages were reused
