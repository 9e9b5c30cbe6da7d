"""Tells a stall of the host apart from a stall of the process under test.

The suite runs on shared 2-vCPU virtual machines. Two things there stop a process for a third
of a second without it being at fault:

- the hypervisor takes a vCPU away (steal time, ``/proc/stat``'s eighth column): whatever runs
  on that vCPU stops, while the guest kernel still counts it as running;
- the guest itself does not run this test process (every core busy, a burst of I/O).

A deadline measured across processes (the gate publishes, this process receives) then reads
the machine, not the gate. :class:`HostWatch` samples both every 10 ms, so a test can say
"the host stalled in this window" with the figures, and repeat the trial, while a gate that
stalls on a host that ran everything on time still fails.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

TICK = 0.01  # USER_HZ: /proc/stat counts in hundredths of a second
STEAL_LIMIT = 0.1  # s of one vCPU taken away within STEAL_SPAN: the host stalled
STEAL_SPAN = 0.2  # s
LATE_LIMIT = 0.2  # s that a 10 ms sleep of this process overslept: the host stalled


def _steal_per_cpu() -> list[float]:
    """Seconds of steal per vCPU so far (empty where ``/proc/stat`` says nothing)."""
    try:
        with open('/proc/stat') as stat:
            lines = [line.split() for line in stat if line.startswith('cpu')]
    except OSError:
        return []
    return [int(fields[8]) * TICK for fields in lines if fields[0] != 'cpu' and len(fields) > 8]


def _worst_steal(samples: list[Sample]) -> tuple[float, int]:
    """The most steal one vCPU saw within any STEAL_SPAN of ``samples``, and which vCPU.

    Two neighbouring samples always count, however far apart: a watch that did not run for a
    while still sees the steal between its samples.
    """
    worst, worst_cpu = 0.0, 0
    begin = 0
    for end, sample in enumerate(samples):
        while begin < end - 1 and sample.t - samples[begin].t > STEAL_SPAN:
            begin += 1
        earlier = samples[begin].steal
        for cpu, (a, b) in enumerate(zip(earlier, sample.steal, strict=False)):
            if b - a > worst:
                worst, worst_cpu = b - a, cpu
    return worst, worst_cpu


@dataclass(frozen=True)
class Sample:
    t: float
    late: float  # how much the sleep before this sample overslept
    steal: tuple[float, ...]


class HostWatch:
    """A daemon thread sampling this process's lateness and each vCPU's steal time."""

    def __init__(self, period: float = 0.01, keep: float = 600.0) -> None:
        self.period = period
        self.lock = threading.Lock()
        first = Sample(time.monotonic(), 0.0, tuple(_steal_per_cpu()))
        self.samples: deque[Sample] = deque([first], maxlen=int(keep / period))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name='host_watch')
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            before = time.monotonic()
            time.sleep(self.period)
            now = time.monotonic()
            sample = Sample(now, now - before - self.period, tuple(_steal_per_cpu()))
            with self.lock:
                self.samples.append(sample)

    def stall(self, start: float, end: float) -> str | None:
        """What stalled the host between ``start`` and ``end``, in words; None if nothing did.

        Steal counts as a stall when one vCPU lost at least STEAL_LIMIT within a span of
        STEAL_SPAN: the same total spread thinly over a long window is ordinary sharing. The
        samples just before ``start`` and just after ``end`` are included, so a window shorter
        than the sampling period is still covered.
        """
        with self.lock:
            samples = list(self.samples)
        first = max((i for i, s in enumerate(samples) if s.t <= start), default=0)
        last = min((i for i, s in enumerate(samples) if s.t > end), default=len(samples) - 1)
        chosen = samples[first : last + 1]
        words = []
        stolen, cpu = _worst_steal(chosen)
        if stolen >= STEAL_LIMIT:
            words.append(f'the hypervisor took vCPU {cpu} away for {stolen * 1000:.0f} ms')
        late = max((s.late for s in chosen if start < s.t <= end + self.period), default=0.0)
        if late >= LATE_LIMIT:
            words.append(f'this test process did not run for {late * 1000:.0f} ms')
        return '; '.join(words) or None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)


_shared: HostWatch | None = None
_shared_lock = threading.Lock()


def host_watch() -> HostWatch:
    """The one watch of this test process, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = HostWatch()
        return _shared
