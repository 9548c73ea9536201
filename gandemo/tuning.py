"""Settings of a process that trains: one torch thread, and a heap that keeps a step's tensors;
and ``release_memory()``, which hands freed heap back to the system (after runs end).

``train_here()`` is called by whatever trains (a worker process, the CLI, the in-server worker
threads, ``bench``), never at import. One torch thread: toy networks gain nothing from intra-op
threads but their synchronisation; cores are used by training several runs at once instead.

The activations of a stacked step (K·B·width floats: 0.5 MB at K = 8, B = 256, width 64) lie
above glibc's default mmap threshold (128 kB), so every step maps fresh pages and takes a
minor fault on each (~300 per 8-variant step). Serving blocks up to ``MMAP_THRESHOLD`` from the
heap, and keeping up to ``TRIM_THRESHOLD`` of freed heap before returning it, removes the faults
and ~9 % of the 8-variant step's CPU time (bench/engine_bench.py); larger blocks (a 2D snapshot's
grid) still come from mmap and go back to the system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

MMAP_THRESHOLD = 4 << 20  # bytes
TRIM_THRESHOLD = 32 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def _glibc(name: str):
    """glibc's function ``name``, None where there is no glibc (musl, macOS)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def _tune_heap() -> bool:
    """glibc's mallopt as described above; False where there is no glibc."""
    mallopt = _glibc("mallopt")
    return mallopt is not None and bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc keeps up to
    TRIM_THRESHOLD of them otherwise; other allocators keep theirs)."""
    import gc

    gc.collect()
    malloc_trim = _glibc("malloc_trim")
    if malloc_trim is not None:
        malloc_trim(0)


def train_here() -> None:
    """Set up this process for training (idempotent)."""
    import torch

    torch.set_num_threads(1)
    _tune_heap()
