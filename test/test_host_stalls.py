"""The host-stall watch that lets cross-process deadline tests tell the host from the gate."""

from __future__ import annotations

import time
from collections import deque

from host_stalls import HostWatch, Sample, _steal_per_cpu


def _watch(*samples: Sample) -> HostWatch:
    watch = HostWatch()
    watch.close()
    watch.samples = deque(samples)
    return watch


def test_steal_is_read_per_vcpu_from_proc_stat() -> None:
    steal = _steal_per_cpu()
    assert steal, '/proc/stat lists no vCPU'
    assert all(s >= 0 for s in steal)


def test_a_quiet_host_reports_nothing() -> None:
    watch = _watch(*(Sample(t / 100, 0.001, (1.0, 2.0)) for t in range(100)))
    assert watch.stall(0.2, 0.8) is None


def test_steal_across_the_window_names_the_vcpu_and_the_time() -> None:
    watch = _watch(Sample(0.0, 0.0, (1.0, 2.0)), Sample(0.5, 0.0, (1.0, 2.25)))
    assert watch.stall(0.1, 0.4) == 'the hypervisor took vCPU 1 away for 250 ms'
    assert watch.stall(0.6, 0.9) is None  # after the steal


def test_steal_spread_thinly_over_a_long_window_is_ordinary_sharing() -> None:
    # 10 ms of steal every 100 ms for 1 s: 100 ms in all, never 100 ms within 0.2 s
    watch = _watch(*(Sample(t / 10, 0.0, (t / 100, 0.0)) for t in range(11)))
    assert watch.stall(0.0, 1.0) is None


def test_an_overslept_sample_inside_the_window_is_this_process_stalling() -> None:
    watch = _watch(Sample(0.0, 0.0, ()), Sample(0.3, 0.29, ()), Sample(0.31, 0.0, ()))
    assert watch.stall(0.1, 0.35) == 'this test process did not run for 290 ms'
    assert watch.stall(0.32, 0.5) is None


def test_the_running_watch_samples_at_its_period() -> None:
    watch = HostWatch()
    try:
        time.sleep(0.3)
        assert len(watch.samples) >= 10
    finally:
        watch.close()
