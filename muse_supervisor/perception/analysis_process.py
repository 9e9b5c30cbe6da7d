"""The analyzers in a process of their own, fed the newest camera frame through shared memory.

Measured on the first design (analyzers on threads of the node's process): OpenCV, numpy and
onnxruntime release the interpreter lock only inside their kernels, and the Python between the
kernels held it about a third of the time, so the node's camera callback ran 1.4-1.8 times later
than a bare subscriber's in the same run (``bench/perception_ingest.py``). A process of their
own takes the analyzers' Python off the node's interpreter.

The node's callback does not decode either: it copies the message's bytes into a one-frame slot
in shared memory (:class:`AnalysisProcess.put_image` and :meth:`~AnalysisProcess.put_compressed`)
and returns. The child decodes the newest slot content into a
:class:`~muse_supervisor.perception.vision.frames.Frame` and runs the same
:class:`~muse_supervisor.perception.scheduler.FramePipeline` (one worker per analyzer, each at
its own rate, on the newest frame it has not seen). Results come back on a queue, each with the
identity of its frame (:class:`FrameRef`: topic, stamp, sequence).

The slot has one lock, held for one copy of one frame on either side. The callback waits for it
at most ``HANDOVER_WAIT``; a frame that cannot be handed over in that time is dropped and
counted, never queued. The child ends when asked, and on its own when the node's process is
gone (its parent id changes), so a killed node leaves no analyzer behind.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import queue
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.scheduler import WorkerStats

ANALYZER_NICE = 10  # the analysis process's scheduling priority, below the node's
HANDOVER_WAIT = 0.002  # s: the longest a camera callback waits for the slot
DEFAULT_MAX_FRAME_BYTES = 1920 * 1080 * 4  # a 1080p rgba8 frame
_HEADER_BYTES = 4096  # length-prefixed JSON: what kind of frame the slot holds
_STATS_PERIOD = 1.0  # s between the child's reports of its workers' counts


@dataclass(frozen=True)
class FrameRef:
    """The identity of an analysed frame, without its pixels (they stay in the child)."""

    topic: str
    stamp: float
    sequence: int
    frame_id: str = ''


ResultSink = Callable[[str, FrameRef, list[Observation]], None]
"""Receives (analyzer name, the frame analysed, its observations), on the result thread."""
RefusedSink = Callable[[int, str], None]
"""Receives (sequence, why the child could not decode that frame)."""


@dataclass(frozen=True)
class AnalyzerChoice:
    """Which analyzers run, at what rates (0 Hz: off): picklable, built in the child.

    The analyzers hold OpenCV detectors and model sessions, which do not cross a process
    boundary; this description does.
    """

    health_rate_hz: float = 0.0
    floor_rate_hz: float = 0.0
    marker_rate_hz: float = 0.0
    person_rate_hz: float = 0.0
    ocr_rate_hz: float = 0.0
    ocr_threads: int = 1

    def build(self) -> list[Any]:
        """The analyzers (OCR only where ``rapidocr`` is installed: see :meth:`warnings`)."""
        from muse_supervisor.perception.vision.floor import FloorAnalyzer
        from muse_supervisor.perception.vision.health import ImageHealthAnalyzer
        from muse_supervisor.perception.vision.markers import MarkerAnalyzer
        from muse_supervisor.perception.vision.person import PersonAnalyzer

        chosen: list[Any] = []
        if self.health_rate_hz > 0:
            chosen.append(ImageHealthAnalyzer(default_rate_hz=self.health_rate_hz))
        if self.floor_rate_hz > 0:
            chosen.append(FloorAnalyzer(default_rate_hz=self.floor_rate_hz))
        if self.marker_rate_hz > 0:
            chosen.append(MarkerAnalyzer(default_rate_hz=self.marker_rate_hz))
        if self.person_rate_hz > 0:
            chosen.append(PersonAnalyzer(default_rate_hz=self.person_rate_hz))
        if self.ocr_rate_hz > 0 and importlib.util.find_spec('rapidocr') is not None:
            from muse_supervisor.perception.vision.ocr import OcrAnalyzer

            chosen.append(OcrAnalyzer(default_rate_hz=self.ocr_rate_hz, threads=self.ocr_threads))
        return chosen

    def warnings(self) -> list[str]:
        """What was asked for and cannot run here."""
        if self.ocr_rate_hz > 0 and importlib.util.find_spec('rapidocr') is None:
            return ['rapidocr is not installed: no OCR (ocr_rate_hz ignored)']
        return []


@dataclass
class HandoverStats:
    """What the node's side did with the frames it was given."""

    handed_over: int = 0
    dropped_busy: int = 0  # the slot was being read for longer than HANDOVER_WAIT
    refused_size: int = 0  # larger than the slot
    refused_decode: int = 0  # the child could not decode it
    workers: list[WorkerStats] = field(default_factory=list)


class AnalysisProcess:
    """The node's side: the slot, the child process, and the thread that reads its results."""

    def __init__(
        self,
        choice: AnalyzerChoice,
        on_result: ResultSink,
        on_refused: RefusedSink | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        if max_frame_bytes <= 0:
            raise ValueError(f'max_frame_bytes must be > 0, got {max_frame_bytes}')
        self.choice = choice
        self.max_frame_bytes = max_frame_bytes
        self._on_result = on_result
        self._on_refused = on_refused
        context = multiprocessing.get_context('spawn')  # no fork of a process with DDS threads
        self._context = context
        self._slot = context.RawArray('B', _HEADER_BYTES + max_frame_bytes)
        self._view = memoryview(self._slot).cast('B')
        self._slot_lock = context.Lock()
        self._frame_ready = context.Event()
        self._stop = context.Event()
        self._results: Any = context.Queue()
        self._process: Any = None
        self._reader: threading.Thread | None = None
        self._stats_lock = threading.Lock()
        self._stats = HandoverStats()

    # ----- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        """Start the child (it loads its analyzers meanwhile) and the result thread."""
        self._stop.clear()
        self._process = self._context.Process(
            target=_child_main,
            args=(
                self.choice, self._slot, self._slot_lock, self._frame_ready, self._stop,
                self._results, os.getpid(),
            ),
            name='muse_analyzers',
            daemon=True,
        )  # fmt: skip
        self._process.start()
        self._reader = threading.Thread(target=self._read_results, name='analysis results')
        self._reader.daemon = True
        self._reader.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to end, wait for it (then end it harder), and stop the result thread."""
        self._stop.set()
        self._frame_ready.set()
        process = self._process
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join(timeout)
        if self._reader is not None and self._reader is not threading.current_thread():
            self._reader.join(timeout)
        self._process = self._reader = None

    @property
    def alive(self) -> bool:
        """Whether the child runs."""
        return self._process is not None and self._process.is_alive()

    # ----- handing frames over -----------------------------------------------------------
    def put_image(
        self, *, encoding: str, height: int, width: int, step: int, is_bigendian: bool | int,
        data: Any, stamp: float, frame_id: str, topic: str, sequence: int,
    ) -> bool:  # fmt: skip
        """Hand over a ``sensor_msgs/Image``'s fields; False if the frame was dropped."""
        meta = {
            'kind': 'image', 'encoding': encoding, 'height': int(height), 'width': int(width),
            'step': int(step), 'is_bigendian': bool(is_bigendian),
        }  # fmt: skip
        return self._put(meta, data, stamp, frame_id, topic, sequence)

    def put_compressed(
        self, *, format: str, data: Any, stamp: float, frame_id: str, topic: str, sequence: int
    ) -> bool:
        """Hand over a ``sensor_msgs/CompressedImage``'s fields; False if it was dropped."""
        return self._put({'kind': 'compressed', 'format': format}, data, stamp, frame_id, topic,
                         sequence)  # fmt: skip

    def _put(
        self, meta: dict[str, Any], data: Any, stamp: float, frame_id: str, topic: str,
        sequence: int,
    ) -> bool:  # fmt: skip
        try:
            payload = memoryview(data).cast('B')
        except TypeError:  # a sequence of integers, not a buffer
            payload = memoryview(bytes(data))
        size = payload.nbytes
        if size > self.max_frame_bytes:
            with self._stats_lock:
                self._stats.refused_size += 1
            raise ValueError(
                f'frame of {size} bytes is larger than the analysis slot ({self.max_frame_bytes} '
                'bytes): raise max_frame_mb'
            )
        meta.update(stamp=stamp, frame_id=frame_id, topic=topic, sequence=sequence, size=size)
        header = json.dumps(meta).encode()
        if len(header) + 4 > _HEADER_BYTES:
            raise ValueError(f'frame description of {len(header)} bytes is too long: {meta}')
        if not self._slot_lock.acquire(timeout=HANDOVER_WAIT):
            with self._stats_lock:
                self._stats.dropped_busy += 1
            return False
        try:
            self._view[:4] = struct.pack('<I', len(header))
            self._view[4 : 4 + len(header)] = header
            self._view[_HEADER_BYTES : _HEADER_BYTES + size] = payload
        finally:
            self._slot_lock.release()
        self._frame_ready.set()
        with self._stats_lock:
            self._stats.handed_over += 1
        return True

    # ----- results -----------------------------------------------------------------------
    def stats(self) -> HandoverStats:
        """Counts on this side and the child's workers' last report."""
        with self._stats_lock:
            return HandoverStats(**{**self._stats.__dict__, 'workers': list(self._stats.workers)})

    def _read_results(self) -> None:
        while True:
            try:
                item = self._results.get(timeout=0.2)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            except (EOFError, OSError):
                return
            kind = item[0]
            if kind == 'observations':
                _, analyzer, ref, observations = item
                self._on_result(analyzer, ref, observations)
            elif kind == 'refused':
                with self._stats_lock:
                    self._stats.refused_decode += 1
                if self._on_refused is not None:
                    self._on_refused(item[1], item[2])
            elif kind == 'stats':
                with self._stats_lock:
                    self._stats.workers = item[1]


# ----- the child ---------------------------------------------------------------------------
def _yield_to_the_node() -> None:
    """Run the analyzers in a scheduling group of their own, at a lower priority.

    Linux's autogroup scheduler shares the CPU between sessions first: in the node's session
    the analyzers' threads took the CPU from the node's camera and alarm callbacks (measured:
    1.5-1.7 times a bare subscriber's receive latency with every analyzer on, 1.1 with the
    health check alone). A session of its own, niced, lets the callbacks preempt the analyzers.
    Best effort: without autogroup (or permission), the analyzers run as before.
    """
    os.setsid()
    try:
        Path('/proc/self/autogroup').write_text(f'{ANALYZER_NICE}\n')
    except OSError:
        os.nice(ANALYZER_NICE)


def _child_main(
    choice: AnalyzerChoice,
    slot: Any,
    slot_lock: Any,
    frame_ready: Any,
    stop: Any,
    results: Any,
    parent_pid: int,
) -> None:
    """Decode the newest frame from the slot and run the analyzers on it until told to stop.

    SIGINT is ignored: Ctrl-C in a terminal reaches the whole process group, and the node
    decides when its analyzers stop (it asks, or its death is noticed).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _yield_to_the_node()
    from muse_supervisor.perception.scheduler import FramePipeline
    from muse_supervisor.perception.vision.frames import (
        Frame,
        decode_compressed_image,
        decode_image,
    )

    def deliver(analyzer: str, frame: Frame, observations: list[Observation]) -> None:
        ref = FrameRef(frame.topic, frame.stamp, frame.sequence, frame.frame_id)
        results.put(('observations', analyzer, ref, observations))

    pipeline = FramePipeline(choice.build(), deliver)
    pipeline.start()
    view = memoryview(slot).cast('B')
    last_sequence = -1
    last_stats = 0.0
    results.cancel_join_thread()  # at exit, never wait for a reader that is gone
    try:
        while not stop.is_set() and os.getppid() == parent_pid:
            now = time.monotonic()
            if now - last_stats >= _STATS_PERIOD:
                results.put(('stats', pipeline.stats()))
                last_stats = now
            if not frame_ready.wait(0.2):
                continue
            frame_ready.clear()
            with slot_lock:
                (length,) = struct.unpack('<I', view[:4])
                meta = json.loads(bytes(view[4 : 4 + length])) if length else None
                if meta is None or meta['sequence'] <= last_sequence:
                    continue
                data = bytes(view[_HEADER_BYTES : _HEADER_BYTES + meta['size']])
            last_sequence = meta['sequence']
            common = {
                'data': data, 'stamp': meta['stamp'], 'frame_id': meta['frame_id'],
                'topic': meta['topic'], 'sequence': meta['sequence'],
            }  # fmt: skip
            try:
                if meta['kind'] == 'image':
                    frame = decode_image(
                        encoding=meta['encoding'], height=meta['height'], width=meta['width'],
                        step=meta['step'], is_bigendian=meta['is_bigendian'], **common,
                    )  # fmt: skip
                else:
                    frame = decode_compressed_image(format=meta['format'], **common)
            except ValueError as error:
                results.put(('refused', meta['sequence'], str(error)))
                continue
            pipeline.put(frame)
    finally:
        pipeline.stop()
