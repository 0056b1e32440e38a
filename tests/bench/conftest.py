"""Helpers for benchmarks (run by `make bench`): measure a block, print results as a table."""

import gc
import re
import resource
import time
import tracemalloc
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest


def max_rss_bytes() -> int:
    """Return this process's peak resident set size (since start, or the last reset)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def rss_bytes() -> int:
    """Return this process's current resident set size (0 where /proc is missing)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else 0


def reset_peak_rss() -> bool:
    """Reset the peak RSS (Linux >= 4.0), so ru_maxrss reports the peak of what follows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Measurement:
    seconds: float = 0.0
    heap_peak: int | None = None  # tracemalloc peak of the Python heap, bytes
    rss_before: int = 0  # resident set size when the block started, bytes
    rss_peak: int = 0  # peak resident set size during the block (or since start), bytes
    peak_is_own: bool = False  # rss_peak was reset at the start, so it is the block's own

    @property
    def rss_delta(self) -> int:
        """Return how much the peak RSS rose above the RSS at the start of the block."""
        return max(self.rss_peak - self.rss_before, 0)


@contextmanager
def measuring(*, trace_heap: bool = False):
    """Time a block and record memory: the RSS peak and its growth, the heap peak if traced.

    tracemalloc slows allocation-heavy code down, so time and heap are best measured in two runs.
    """
    gc.collect()
    result = Measurement()
    result.peak_is_own = reset_peak_rss()
    result.rss_before = rss_bytes() if result.peak_is_own else max_rss_bytes()
    if trace_heap:
        tracemalloc.start()
    started = time.perf_counter()
    try:
        yield result
    finally:
        result.seconds = time.perf_counter() - started
        if trace_heap:
            result.heap_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        result.rss_peak = max_rss_bytes()


class Table:
    """Rows printed as an aligned plain-text table on stdout."""

    def __init__(self, title: str, columns: list[str]):
        self.title, self.columns, self.rows = title, columns, []

    def add(self, *values) -> None:
        self.rows.append([str(value) for value in values])

    def render(self) -> str:
        widths = [
            max(len(row[i]) for row in [self.columns, *self.rows]) for i in range(len(self.columns))
        ]
        line = "  ".join("-" * width for width in widths)

        def fmt(row):
            return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))

        return "\n".join(
            ["", self.title, line, fmt(self.columns), line, *map(fmt, self.rows), line]
        )


@pytest.fixture
def measure():
    """Return the measuring context manager: `with measure(trace_heap=True) as m: …`."""
    return measuring


@pytest.fixture
def bench_table():
    """Return a function making Tables; they are printed when the test ends (make bench uses -s)."""
    tables = []

    def make(title: str, columns: list[str]) -> Table:
        tables.append(Table(title, columns))
        return tables[-1]

    yield make
    for table in tables:
        print(table.render())
