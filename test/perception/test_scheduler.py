"""The latest-frame policy: the camera callback never waits; workers analyse the newest frame."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.perception.scheduler import AnalyzerWorker, FramePipeline, LatestFrame
from muse_supervisor.perception.vision.frames import Frame
from muse_supervisor.perception.vision.health import ImageHealthAnalyzer


def _frame(sequence: int, value: int = 128) -> Frame:
    pixels = np.full((48, 64, 3), value, np.uint8)
    return Frame(pixels, stamp=100.0 + sequence / 30, topic='camera/image_raw', sequence=sequence)


class Recorder:
    """An analyzer that records what it saw; it can be made to block until released."""

    name = 'recorder:1'
    default_rate_hz = 1000.0

    def __init__(self, cost: float = 0.0) -> None:
        self.cost = cost
        self.seen: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.entered = threading.Event()

    def analyze(self, frame: Frame) -> list[Observation]:
        self.entered.set()
        self.release.wait(10)
        time.sleep(self.cost)
        self.seen.append(frame.sequence)
        return [
            Observation('test.seen', EvidenceSource.CAMERA, frame.topic, self.name,
                        f'frame {frame.sequence}', frame.stamp)
        ]  # fmt: skip


def _wait(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, 'condition not met'
        time.sleep(0.005)


def test_put_returns_while_the_analyzer_is_stuck_and_the_newest_frame_wins() -> None:
    analyzer = Recorder()
    analyzer.release.clear()  # the analyzer blocks inside analyze() until released
    results: list[tuple[str, Frame, list[Observation]]] = []
    pipeline = FramePipeline([analyzer], lambda *r: results.append(r))
    pipeline.start()
    try:
        pipeline.put(_frame(0))
        assert analyzer.entered.wait(5)
        for sequence in range(1, 91):  # three seconds of a 30 Hz camera, while it is stuck
            pipeline.put(_frame(sequence))
        assert pipeline.slot.received == 91  # every put returned with the analyzer stuck
        analyzer.release.set()
        _wait(lambda: len(analyzer.seen) >= 2)
    finally:
        pipeline.stop()
    # The frame in analysis, then the newest one: nothing in between was queued.
    assert analyzer.seen[:2] == [0, 90]
    stats = pipeline.stats()[0]
    assert stats.dropped == 89 and stats.analysed == len(analyzer.seen)
    _, frame, observations = results[1]
    assert frame.sequence == 90 and observations[0].stamp == frame.stamp  # the frame's stamp


def test_a_worker_keeps_to_its_rate_on_a_faster_camera() -> None:
    analyzer = Recorder()
    slot = LatestFrame()
    worker = AnalyzerWorker(analyzer, slot, lambda *r: None, rate_hz=5.0)
    worker.start()
    try:
        started = time.monotonic()
        sequence = 0
        while time.monotonic() - started < 2.0:  # a 100 Hz flood for two seconds
            slot.put(_frame(sequence))
            sequence += 1
            time.sleep(0.01)
    finally:
        worker.stop()
    # 5 Hz for 2 s: 10 or 11 turns; allow one either way for a loaded machine.
    assert 9 <= len(analyzer.seen) <= 12, analyzer.seen
    assert analyzer.seen == sorted(set(analyzer.seen))  # never the same frame twice


def test_a_frame_is_analysed_once_however_long_no_new_one_comes() -> None:
    analyzer = Recorder()
    pipeline = FramePipeline([analyzer], lambda *r: None)
    pipeline.start()
    try:
        pipeline.put(_frame(7))
        _wait(lambda: analyzer.seen == [7])
        time.sleep(0.3)
    finally:
        pipeline.stop()
    assert analyzer.seen == [7]


def test_an_analyzer_that_raises_is_counted_and_its_worker_goes_on() -> None:
    class Flaky(Recorder):
        def analyze(self, frame: Frame) -> list[Observation]:
            if frame.sequence == 1:
                raise RuntimeError('model crashed')
            return super().analyze(frame)

    analyzer = Flaky()
    pipeline = FramePipeline([analyzer], lambda *r: None)
    pipeline.start()
    try:
        for sequence in range(3):
            pipeline.put(_frame(sequence))
            _wait(lambda s=sequence: pipeline.stats()[0].analysed + pipeline.stats()[0].errors > s)
    finally:
        pipeline.stop()
    stats = pipeline.stats()[0]
    assert (stats.analysed, stats.errors) == (2, 1)
    assert stats.last_error == 'RuntimeError: model crashed'


def test_real_analyzers_run_side_by_side_at_their_own_rates() -> None:
    health = ImageHealthAnalyzer()
    slow = Recorder(cost=0.2)
    names: list[str] = []
    pipeline = FramePipeline([health, slow], lambda name, *_: names.append(name),
                             rates_hz={health.name: 20.0})  # fmt: skip
    pipeline.start()
    try:
        for sequence in range(60):  # two seconds at 30 Hz, dark frames
            pipeline.put(_frame(sequence, value=5))
            time.sleep(1 / 30)
    finally:
        pipeline.stop()
    fast, slow_stats = pipeline.stats()
    assert fast.analysed > 2 * slow_stats.analysed  # the slow one did not hold the fast one up
    assert slow_stats.analysed >= 3


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match='rate must be > 0 Hz'):
        AnalyzerWorker(Recorder(), LatestFrame(), lambda *r: None, rate_hz=0.0)
