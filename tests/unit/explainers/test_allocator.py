"""The CPU allocator setting that keeps freed activations in the process (explainers/allocator.py)."""
import platform
import resource
import sys

import pytest
import torch

import explainers.models  # noqa: F401  (sets it at import, before any model runs)
from explainers.allocator import keep_freed_memory

PAGES_64_MB = 64 * 2**20 // resource.getpagesize()


def page_faults_of(function) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    function()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt is glibc's")
def test_a_freed_batch_buffer_is_reused_without_page_faults():
    assert keep_freed_memory() is True

    def batch():
        torch.empty(PAGES_64_MB * resource.getpagesize(), dtype=torch.uint8).fill_(1)

    batch(), batch()  # the first batches take their pages from the kernel (the heap grows)
    # The next batch gets the same memory back: without the setting, glibc would have unmapped it and
    # every one of its pages would fault again.
    assert page_faults_of(batch) < PAGES_64_MB // 10
