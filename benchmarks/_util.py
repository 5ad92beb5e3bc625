"""Helpers shared by the benchmark modules."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


@contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """``with timer() as elapsed: ...; elapsed()`` gives seconds since entry."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def percentiles_ms(samples_s: list[float] | np.ndarray) -> dict[str, float]:
    """p50/p95/p99 of a list of durations in seconds, reported in milliseconds."""
    arr = np.asarray(samples_s, dtype=float) * 1000.0
    return {f"p{q}_ms": round(float(np.percentile(arr, q)), 4) for q in (50, 95, 99)}
