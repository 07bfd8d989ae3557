"""Keep freed memory in the process for reuse (glibc), instead of returning it to the system after each step.

Every attack step, training step and Hessian-vector product allocates and frees the same few-megabyte
tensors. With glibc's defaults, blocks of that size are served by ``mmap`` and handed back to the system when
freed (its adaptive threshold lags behind), so the next step takes page faults to get them again. Raising
the mmap threshold to glibc's maximum (32 MiB on 64-bit systems) and the trim threshold to 1 GiB keeps them
in the heap for reuse: on the cpu ConvNet (one thread, 100 pairs) an attack step took 30-33 ms instead of
38-40 ms (``benchmarks/bench_manipulate.py``). The arithmetic is untouched, so every result is bit-identical;
the cost is that the process keeps up to its peak working set resident. Elsewhere (macOS, Windows, musl)
this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

# mallopt parameter numbers from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20  # glibc's largest accepted value on 64-bit systems
TRIM_THRESHOLD_BYTES = 2**30

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the two glibc settings of the module docstring once per process; True if they are in force."""
    global _applied
    if _applied is None:
        _applied = False
        if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _applied = bool(
                libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
            )
    return _applied
