"""The latest-frame policy: camera callbacks never wait, analyzers never fall behind.

A camera publishes at 30 Hz; OCR takes half a second. Queueing frames would make every result
older than the last, and an analysis in the subscription callback would stall the node. So the
callback only puts the frame in a one-frame slot (:class:`LatestFrame`), replacing whatever was
there, and each analyzer runs on a worker thread of its own (:class:`AnalyzerWorker`) at its
own rate, on the newest frame it has not analysed yet. A frame no worker got to in time is
dropped, and counted, never queued. Results carry the stamp of the frame they came from (the
analyzers build them so), so a late result is known to be late.

The perception node runs this pipeline inside its analysis process
(:mod:`muse_supervisor.perception.analysis_process`), so the analyzers' threads share an
interpreter with each other, not with the node's callbacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.vision.analyzer import Analyzer
from muse_supervisor.perception.vision.frames import Frame

ObservationSink = Callable[[str, Frame, list[Observation]], None]
"""Receives (analyzer name, the frame analysed, its observations), on the worker's thread."""


class LatestFrame:
    """One slot holding the newest frame; :meth:`put` replaces it and never waits for a reader."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: Frame | None = None
        self._received = 0

    def put(self, frame: Frame) -> None:
        """Offer ``frame`` (from the subscription callback): O(1), never blocks on analysis."""
        with self._condition:
            self._frame = frame
            self._received += 1
            self._condition.notify_all()

    @property
    def received(self) -> int:
        """Frames put so far."""
        with self._condition:
            return self._received

    def newer_than(self, sequence: int, timeout: float) -> Frame | None:
        """The newest frame if its sequence is above ``sequence``, waiting up to ``timeout``."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._frame is not None and self._frame.sequence > sequence, timeout
            )
            frame = self._frame
            return frame if frame is not None and frame.sequence > sequence else None

    def wake(self) -> None:
        """Wake every waiting worker (to stop)."""
        with self._condition:
            self._condition.notify_all()


@dataclass(frozen=True)
class WorkerStats:
    """What one analyzer's worker did: frames analysed and skipped, and the cost per frame."""

    analyzer: str
    rate_hz: float
    analysed: int
    dropped: int  # frames that came and went while this worker was busy or between turns
    errors: int
    mean_cost_ms: float
    last_stamp: float | None  # stamp of the newest frame analysed
    last_error: str = ''


class AnalyzerWorker:
    """Runs one analyzer at most ``rate_hz`` times a second on the newest unseen frame."""

    def __init__(
        self,
        analyzer: Analyzer,
        slot: LatestFrame,
        sink: ObservationSink,
        rate_hz: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rate = analyzer.default_rate_hz if rate_hz is None else rate_hz
        if not rate > 0:
            raise ValueError(f'{analyzer.name}: rate must be > 0 Hz, got {rate!r}')
        self.analyzer, self.slot, self.sink, self.rate_hz = analyzer, slot, sink, rate
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f'analyzer {analyzer.name}', daemon=True
        )
        self._lock = threading.Lock()
        self._analysed = self._errors = 0
        self._dropped = 0
        self._cost = 0.0
        self._last_stamp: float | None = None
        self._last_error = ''

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the worker to end and wait for the frame in analysis to finish."""
        self._stop.set()
        self.slot.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def stats(self) -> WorkerStats:
        """A snapshot of what the worker did so far."""
        with self._lock:
            mean = 1000.0 * self._cost / self._analysed if self._analysed else 0.0
            return WorkerStats(
                self.analyzer.name, self.rate_hz, self._analysed, self._dropped, self._errors,
                mean, self._last_stamp, self._last_error,
            )  # fmt: skip

    def _run(self) -> None:
        period = 1.0 / self.rate_hz
        sequence = -1
        next_turn = self._clock()
        while not self._stop.is_set():
            wait = next_turn - self._clock()
            if wait > 0 and self._stop.wait(wait):
                return
            frame = self.slot.newer_than(sequence, timeout=0.5)
            if frame is None:
                continue
            skipped = max(0, frame.sequence - sequence - 1)  # frames between: never analysed
            sequence = frame.sequence
            started = self._clock()
            try:
                observations = self.analyzer.analyze(frame)
            except Exception as error:  # one bad frame must not end the worker
                with self._lock:
                    self._errors += 1
                    self._last_error = f'{type(error).__name__}: {error}'
                observations = None
            cost = self._clock() - started
            with self._lock:
                self._dropped += skipped
                if observations is not None:
                    self._analysed += 1
                    self._cost += cost
                    self._last_stamp = frame.stamp
            if observations is not None:
                self.sink(self.analyzer.name, frame, observations)
            next_turn = started + period  # at once when the analysis took longer than that


class FramePipeline:
    """The slot and one worker per analyzer: what the perception node runs per camera."""

    def __init__(
        self,
        analyzers: Sequence[Analyzer],
        sink: ObservationSink,
        rates_hz: dict[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        rates = rates_hz or {}
        self.slot = LatestFrame()
        self.workers = [
            AnalyzerWorker(a, self.slot, sink, rates.get(a.name), clock) for a in analyzers
        ]

    def start(self) -> None:
        """Start every worker."""
        for worker in self.workers:
            worker.start()

    def put(self, frame: Frame) -> None:
        """Hand over the newest frame (never blocks)."""
        self.slot.put(frame)

    def stop(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.stop()

    def stats(self) -> list[WorkerStats]:
        """Each worker's counts and cost."""
        return [worker.stats() for worker in self.workers]
