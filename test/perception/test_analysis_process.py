"""The analyzers in their own process: frames go over shared memory, results come back.

Real child processes (spawned as the node spawns them), real analyzers, real decoding.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.analysis_process import (
    ANALYZER_NICE,
    AnalysisProcess,
    AnalyzerChoice,
    FrameRef,
)
from muse_supervisor.perception.vision import DARK
from muse_supervisor.perception.vision.synthetic import add_noise

TIMEOUT = 60.0  # a spawned child imports OpenCV and the analyzers: seconds on a loaded machine
HEALTH = AnalyzerChoice(health_rate_hz=20.0)


class Results:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, FrameRef, list[Observation]]] = []
        self.refused: list[tuple[int, str]] = []

    def result(self, analyzer: str, ref: FrameRef, observations: list[Observation]) -> None:
        with self.lock:
            self.items.append((analyzer, ref, observations))

    def refuse(self, sequence: int, reason: str) -> None:
        with self.lock:
            self.refused.append((sequence, reason))

    def wait(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with self.lock:
                value = condition()
            if value:
                return value
            time.sleep(0.02)
        raise TimeoutError(f'{what} not within {TIMEOUT} s')


@pytest.fixture
def results() -> Results:
    return Results()


@pytest.fixture
def analysis(results: Results) -> Any:
    process = AnalysisProcess(HEALTH, results.result, results.refuse, max_frame_bytes=2**21)
    process.start()
    yield process
    process.stop()
    assert not process.alive


def _black(width: int = 320, height: int = 240) -> np.ndarray:
    return add_noise(np.zeros((height, width, 3), np.uint8), 2.0)


def _dark_verdicts(results: Results, sequence: int) -> list[Observation]:
    return [
        o
        for _, ref, observations in results.items
        if ref.sequence == sequence
        for o in observations
        if o.signal == DARK
    ]


def _feed_until(put: Callable[[int], Any], done: Callable[[], Any], what: str) -> None:
    """Hand over frames 1, 2, ... every 50 ms until ``done()``: the child may still be starting
    (frames before that are replaced in the slot, never queued)."""
    for sequence in range(1, int(TIMEOUT / 0.05)):
        put(sequence)
        if done():
            return
        time.sleep(0.05)
    pytest.fail(f'{what} not within {TIMEOUT} s')


def _put_black_rgb(analysis: AnalysisProcess, topic: str = '/cam/image') -> Callable[[int], Any]:
    rgb = cv2.cvtColor(_black(), cv2.COLOR_BGR2RGB).tobytes()

    def put(sequence: int) -> None:
        assert analysis.put_image(
            encoding='rgb8', height=240, width=320, step=960, is_bigendian=False, data=rgb,
            stamp=100.0 + sequence, frame_id='camera', topic=topic, sequence=sequence,
        )  # fmt: skip

    return put


def _put_compressed(analysis: AnalysisProcess, data: bytes) -> Callable[[int], Any]:
    return lambda sequence: analysis.put_compressed(
        format='jpeg', data=data, stamp=float(sequence), frame_id='', topic='/c',
        sequence=sequence,
    )  # fmt: skip


def test_a_raw_frame_is_decoded_and_analysed_in_the_child(
    analysis: AnalysisProcess, results: Results
) -> None:
    _feed_until(_put_black_rgb(analysis), lambda: results.items, 'a result from a raw frame')
    analyzer, ref, _ = results.items[0]
    assert analyzer.startswith('image_health')
    assert ref.topic == '/cam/image' and ref.frame_id == 'camera'
    assert ref.stamp == 100.0 + ref.sequence  # the stamp of the very frame analysed
    verdicts = results.wait(lambda: _dark_verdicts(results, ref.sequence), 'a dark verdict')
    assert verdicts[0].active and verdicts[0].stamp == ref.stamp
    counted = results.wait(
        lambda: [w for w in analysis.stats().workers if w.analysed >= 1], 'worker statistics'
    )
    assert counted[0].analyzer == analyzer and counted[0].errors == 0
    assert analysis.stats().handed_over >= 1


def test_a_compressed_frame_is_decoded_in_the_child(
    analysis: AnalysisProcess, results: Results
) -> None:
    ok, jpeg = cv2.imencode('.jpg', _black())
    assert ok
    put = _put_compressed(analysis, jpeg.tobytes())
    _feed_until(put, lambda: results.items, 'a result from a compressed frame')
    ref = results.items[0][1]
    assert results.wait(lambda: _dark_verdicts(results, ref.sequence), 'a dark verdict')


def test_an_undecodable_frame_is_refused_with_the_reason(
    analysis: AnalysisProcess, results: Results
) -> None:
    put = _put_compressed(analysis, b'not a jpeg')
    _feed_until(put, lambda: results.refused, 'a refusal of an undecodable frame')
    sequence, reason = results.refused[0]
    assert sequence >= 1
    assert 'could not decode 10 bytes' in reason
    assert results.wait(lambda: analysis.stats().refused_decode >= 1, 'the refusal counted')
    assert not results.items  # nothing was analysed


def test_a_frame_larger_than_the_slot_is_refused_on_the_callers_side(
    analysis: AnalysisProcess,
) -> None:
    with pytest.raises(ValueError, match=r'larger than the analysis slot \(2097152 bytes\)'):
        analysis.put_compressed(
            format='jpeg', data=bytes(2**21 + 1), stamp=1.0, frame_id='', topic='/c', sequence=1
        )
    assert analysis.stats().refused_size == 1


def test_a_stopped_process_starts_again(analysis: AnalysisProcess, results: Results) -> None:
    analysis.stop()
    assert not analysis.alive
    analysis.start()
    assert analysis.alive
    _feed_until(_put_black_rgb(analysis), lambda: results.items, 'a result after a restart')


def test_bad_slot_size_is_refused() -> None:
    with pytest.raises(ValueError, match='max_frame_bytes must be > 0'):
        AnalysisProcess(HEALTH, lambda *_: None, max_frame_bytes=0)


_ORPHAN = """
import sys, time
from muse_supervisor.perception.analysis_process import AnalysisProcess, AnalyzerChoice
if __name__ == '__main__':
    process = AnalysisProcess(AnalyzerChoice(health_rate_hz=1.0), lambda *_: None)
    process.start()
    print(process._process.pid, flush=True)
    time.sleep(600)
"""


def test_the_child_ends_when_the_node_process_is_killed(tmp_path: Any) -> None:
    script = tmp_path / 'parent.py'
    script.write_text(_ORPHAN)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        # A zombie of a dead parent is reaped by init; /proc tells a zombie from a live one.
        try:
            state = Path(f'/proc/{child}/stat').read_text().rsplit(')', 1)[1].split()[0]
        except OSError:
            return
        if state == 'Z':
            return
        time.sleep(0.1)
    pytest.fail(f'analysis child {child} still runs 10 s after its parent was killed')


def test_a_30_hz_stream_is_never_queued_and_the_handover_never_waits_long(
    results: Results,
) -> None:
    """The latest-frame policy across the process boundary: 640x480 frames at 30 Hz for 3 s,
    the health analyzer at 5 Hz. Each hand-over is bounded by the slot's 2 ms wait plus one
    copy; 0.1 s allows for a loaded machine. Frames the worker did not get to are dropped and
    counted, and what it analysed was never older than the newest frame at its turn."""
    process = AnalysisProcess(AnalyzerChoice(health_rate_hz=5.0), results.result)
    started = time.monotonic()
    process.start()
    try:
        rgb = cv2.cvtColor(add_noise(np.zeros((480, 640, 3), np.uint8), 2.0), cv2.COLOR_BGR2RGB)
        data = rgb.tobytes()
        put = _put_black_rgb(process)  # warm-up until the child analyses
        _feed_until(put, lambda: results.items, 'a first result')
        start_count = process.stats().handed_over
        slowest = 0.0
        first = time.monotonic()
        for sequence in range(10_000, 10_090):
            began = time.monotonic()
            process.put_image(
                encoding='rgb8', height=480, width=640, step=1920, is_bigendian=False,
                data=data, stamp=float(sequence), frame_id='', topic='/i', sequence=sequence,
            )  # fmt: skip
            slowest = max(slowest, time.monotonic() - began)
            time.sleep(max(0.0, first + (sequence - 9_999) / 30.0 - time.monotonic()))
        assert slowest < 0.1, f'a hand-over took {slowest * 1000:.1f} ms'

        def settled() -> Any:
            workers = process.stats().workers
            return workers if workers and workers[0].last_stamp == 10_089.0 else None

        # The last frame stays in the slot until the worker's next turn takes it.
        [worker] = results.wait(settled, 'the last frame analysed')
        counts = process.stats()
        assert counts.handed_over - start_count + counts.dropped_busy == 90
        assert worker.dropped > 40  # 30 Hz in, 5 Hz analysed: most frames are skipped
        assert worker.analysed <= 5 * (time.monotonic() - started) + 2  # at its rate, no more
    finally:
        process.stop()


def test_the_analyzers_yield_the_cpu_to_the_node(analysis: AnalysisProcess) -> None:
    """A session (scheduling autogroup) of their own, niced below the node's."""
    child = analysis._process.pid
    deadline = time.monotonic() + TIMEOUT
    while os.getsid(child) != child:  # set by the child as it starts
        assert time.monotonic() < deadline, 'the analysis child never started its own session'
        time.sleep(0.05)
    assert os.getsid(child) != os.getsid(0)
    autogroup = Path(f'/proc/{child}/autogroup')
    if autogroup.exists():  # Linux with CONFIG_SCHED_AUTOGROUP, as here
        assert autogroup.read_text().split()[-1] == str(ANALYZER_NICE)
    else:
        assert os.getpriority(os.PRIO_PROCESS, child) == ANALYZER_NICE
