"""Latency statistics shared by the benchmarks: percentiles and the one summary they all report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from muse_supervisor.demo.score import percentile

__all__ = ['percentile', 'summary_ms']


def summary_ms(seconds: Sequence[float]) -> dict[str, Any]:
    """n, p50, p90, p99, max and mean of latencies given in seconds, reported in ms."""
    ms = [s * 1e3 for s in seconds]
    return {
        'n': len(ms),
        'p50_ms': round(percentile(ms, 50), 3),
        'p90_ms': round(percentile(ms, 90), 3),
        'p99_ms': round(percentile(ms, 99), 3),
        'max_ms': round(max(ms), 3) if ms else math.nan,
        'mean_ms': round(sum(ms) / len(ms), 3) if ms else math.nan,
    }
