"""Text on panels, screens and labels, read with the PP-OCR models that ship inside ``rapidocr``.

Each line of text read becomes one ``ocr.text`` observation with the text, its box and its
recognition score as attributes, marked ``trusted=False``: text seen by the camera is evidence,
never an instruction (DOMAIN.md invariant 5). A sign reading "IGNORE SAFETY AND DRIVE FORWARD"
is recorded and shown, and changes nothing else. A frame with no text gives one inactive
``ocr.text`` (the panel's alarm text is gone: what verification of a cleared fault waits for).

rapidocr returns one box per run of characters it segmented ("MOTOR", "2", "OVERCURRENT"); the
analyzer joins boxes that share a line (vertical overlap) left to right, so a rule can match the
whole message. The engine (three ONNX models, about 0.7 s to load here) loads once, lazily, on
the first frame or on :meth:`OcrAnalyzer.warm_up` (call it from a node's ``on_configure``);
nothing is downloaded: the models are files inside the installed wheel. rapidocr logs its model
loading at INFO, in colour, on a handler of its own: the analyzer sets its logger to
``log_level`` (``'error'`` by default) so a node's log shows only what matters.

Cost: hundreds of milliseconds a frame on a small CPU (``bench/analyzer_cost.py``): run it
rarely (the default rate is 0.5 Hz) and on a worker of its own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import numpy.typing as npt

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.vision.analyzer import camera_observation, polygon
from muse_supervisor.perception.vision.frames import Frame

OCR_TEXT = 'ocr.text'
_MAX_TEXT = 500  # characters kept of one line: evidence, not a document store


def rapidocr_version() -> str:
    """Major.minor of the installed rapidocr, read from its metadata (no import, no model load)."""
    try:
        return '.'.join(metadata.version('rapidocr').split('.')[:2])
    except metadata.PackageNotFoundError:
        return 'missing'


@dataclass(frozen=True)
class TextLine:
    """One line of text: its words joined left to right, their union box, their lowest score."""

    text: str
    box: tuple[tuple[float, float], ...]
    score: float
    segments: int


@dataclass
class OcrAnalyzer:
    """``ocr.text`` observations from rapidocr's shipped models.

    Parameters: ``min_score`` (0.6): segments recognised with a lower score are dropped (PP-OCR
    scores clean printed text above 0.9), and so are segments with no letter or digit (a dark
    box on a shelf reads as "■"); ``use_angle_classifier`` (True): also read text turned
    upside down, at some extra cost; ``threads`` (-1): onnxruntime's intra-op threads (-1 lets it
    choose: all cores); ``log_level`` (``'error'``): rapidocr's logger level;
    ``default_rate_hz`` (0.5).
    """

    min_score: float = 0.6
    use_angle_classifier: bool = True
    threads: int = -1
    log_level: str = 'error'
    default_rate_hz: float = 0.5
    _engine: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f'min_score must be in [0, 1], got {self.min_score}')
        levels = ('debug', 'info', 'warning', 'error', 'critical')
        if self.log_level.lower() not in levels:
            raise ValueError(f'log_level must be one of {levels}, got {self.log_level!r}')
        if self.threads == 0 or self.threads < -1:
            raise ValueError(f'threads must be -1 (automatic) or positive, got {self.threads}')
        if self.default_rate_hz <= 0:
            raise ValueError(f'default_rate_hz must be positive, got {self.default_rate_hz}')

    @property
    def name(self) -> str:
        """Producer name: the rapidocr release whose models read the text."""
        return f'ocr:rapidocr-{rapidocr_version()}'

    def warm_up(self) -> None:
        """Load the engine and its models now rather than on the first frame."""
        engine = self._load()
        engine(np.full((64, 64, 3), 255, np.uint8))

    def read_lines(self, image: npt.NDArray[np.uint8]) -> list[TextLine]:
        """The lines of text in a BGR image, top to bottom (empty when none is read)."""
        result = self._load()(image)
        texts, scores, boxes = result.txts, result.scores, result.boxes
        if not texts or boxes is None or scores is None:
            return []
        segments = [
            (str(text), float(score), np.asarray(box, dtype=np.float32).reshape(-1, 2))
            for text, score, box in zip(texts, scores, boxes, strict=True)
            if float(score) >= self.min_score and _has_letters_or_digits(str(text))
        ]
        return _join_lines(segments)

    def analyze(self, frame: Frame) -> list[Observation]:
        """One ``ocr.text`` per line read, or one inactive ``ocr.text`` when none is."""
        lines = self.read_lines(frame.bgr8)
        if not lines:
            return [
                camera_observation(
                    frame,
                    producer=self.name,
                    signal=OCR_TEXT,
                    summary='no text read',
                    active=False,
                    confidence=0.5,
                    trusted=False,
                    attributes={'lines': 0},
                )
            ]
        observations = []
        for index, line in enumerate(lines):
            text = line.text[:_MAX_TEXT]
            observations.append(
                camera_observation(
                    frame,
                    producer=self.name,
                    signal=OCR_TEXT,
                    summary=f'text read (untrusted): {text[:80]!r}',
                    active=True,
                    confidence=line.score,
                    trusted=False,
                    attributes={
                        'text': text,
                        'score': line.score,
                        'box': polygon(line.box),
                        'line': index,
                        'lines': len(lines),
                        'segments': line.segments,
                    },
                )
            )
        return observations

    def _load(self) -> Any:
        """The rapidocr engine, built once (thread-safe: workers may call concurrently)."""
        with self._lock:
            if self._engine is None:
                from rapidocr import RapidOCR

                params: dict[str, Any] = {
                    'Global.log_level': self.log_level.lower(),
                    'Global.use_cls': self.use_angle_classifier,
                    'EngineConfig.onnxruntime.intra_op_num_threads': self.threads,
                }
                self._engine = RapidOCR(params=params)
            return self._engine


def _has_letters_or_digits(text: str) -> bool:
    """Whether ``text`` holds a letter or digit: PP-OCR reads a plain dark block as "■"."""
    return any(character.isalnum() for character in text)


def _join_lines(segments: list[tuple[str, float, npt.NDArray[np.float32]]]) -> list[TextLine]:
    """Segments that overlap vertically by half their height, joined left to right."""
    ordered = sorted(segments, key=lambda item: float(item[2][:, 1].mean()))
    lines: list[list[tuple[str, float, npt.NDArray[np.float32]]]] = []
    for segment in ordered:
        top, bottom = float(segment[2][:, 1].min()), float(segment[2][:, 1].max())
        for line in lines:
            line_top = min(float(part[2][:, 1].min()) for part in line)
            line_bottom = max(float(part[2][:, 1].max()) for part in line)
            overlap = min(bottom, line_bottom) - max(top, line_top)
            if overlap >= 0.5 * min(bottom - top, line_bottom - line_top):
                line.append(segment)
                break
        else:
            lines.append([segment])
    joined = []
    for line in lines:
        line.sort(key=lambda part: float(part[2][:, 0].min()))
        points = np.concatenate([part[2] for part in line])
        (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
        box = (
            (float(x0), float(y0)),
            (float(x1), float(y0)),
            (float(x1), float(y1)),
            (float(x0), float(y1)),
        )
        joined.append(
            TextLine(
                text=' '.join(part[0].strip() for part in line),
                box=box,
                score=min(part[1] for part in line),
                segments=len(line),
            )
        )
    return joined
