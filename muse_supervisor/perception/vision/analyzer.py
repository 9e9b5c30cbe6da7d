"""The contract every visual analyzer keeps, and the one way they build observations.

An analyzer is anything with a ``name`` (producer and version, recorded in
``Observation.producer`` so a result can be traced to the code and model that made it), a
``default_rate_hz`` (how often a worker should run it: cheap health checks often, OCR rarely) and
``analyze(frame)``. The perception node runs each analyzer on a worker of its own at its own
rate on the latest frame; the analyzer never sees a ROS message and never reads a clock. An
instance serves one worker (one stream) at a time: the stateful checks (a frozen stream) and
OpenCV's detector objects are not meant to be shared between threads.

The verdict contract: for each of its signals, every analysed frame yields either one or more
observations with ``active=True`` (the condition is seen) or exactly one with ``active=False``
(it was checked and is not there: a healthy frame after a dark one, no person in view). A signal
that cannot be judged on a frame (blur on a black image) yields nothing for that frame, so a
clear is never claimed from a frame that could not show it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, runtime_checkable

import cv2

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.perception.vision.frames import Frame

OPENCV_VERSION = '.'.join(cv2.__version__.split('.')[:2])
"""Major.minor of the OpenCV in use: part of the producer name of the classical analyzers."""

AttributeValue = str | int | float | bool | Sequence[float] | Sequence[Sequence[float]]


@runtime_checkable
class Analyzer(Protocol):
    """A pluggable visual analyzer (see the module docstring for the verdict contract)."""

    @property
    def name(self) -> str:
        """Producer and version, e.g. ``"ocr:rapidocr-3.10"``."""
        ...

    @property
    def default_rate_hz(self) -> float:
        """How often a worker should run this analyzer when the configuration says nothing."""
        ...

    def analyze(self, frame: Frame) -> list[Observation]:
        """The observations this frame supports, each stamped with the frame's stamp."""
        ...


def camera_observation(
    frame: Frame,
    *,
    producer: str,
    signal: str,
    summary: str,
    active: bool,
    confidence: float,
    trusted: bool = True,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Observation:
    """An observation of ``frame``: its stamp, topic and frame id, source camera.

    ``trusted`` must be False whenever the observation carries text read from the world (OCR,
    marker payloads): DOMAIN.md invariant 5. Attribute values are written as strings the way
    :func:`format_attribute` does, in a stable order (sorted by key) so records compare.
    """
    values = attributes or {}
    return Observation(
        signal=signal,
        source=EvidenceSource.CAMERA,
        topic=frame.topic,
        producer=producer,
        summary=summary,
        stamp=frame.stamp,
        confidence=clamp_confidence(confidence),
        active=active,
        trusted=trusted,
        frame_id=frame.frame_id,
        attributes=tuple((key, format_attribute(values[key])) for key in sorted(values)),
    )


def format_attribute(value: AttributeValue) -> str:
    """One attribute value as text.

    Numbers keep four significant digits (enough to compare with a threshold, short enough to
    read); a box or polygon is written ``"x,y x,y ..."`` in pixels; booleans as
    ``true``/``false`` so rules in YAML match them.
    """
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        return value
    parts: list[str] = []
    for item in value:
        if isinstance(item, int | float):
            parts.append(_number(float(item)))
        else:
            parts.append(','.join(_number(float(coordinate)) for coordinate in item))
    return ' '.join(parts)


def clamp_confidence(value: float) -> float:
    """``value`` forced into [0, 1] (NaN counts as no confidence at all)."""
    if math.isnan(value):
        return 0.0
    return min(1.0, max(0.0, value))


def margin_confidence(value: float, threshold: float, span: float) -> float:
    """How sure a threshold verdict is: 0.5 at the threshold, 1.0 at ``span`` beyond it.

    Used by the classical analyzers so a measurement just past its threshold is reported with
    less confidence than one far past it, on either side (active or cleared).
    """
    if span <= 0:
        return 1.0
    return clamp_confidence(0.5 + 0.5 * abs(value - threshold) / span)


def polygon(points: Iterable[Sequence[float]]) -> list[list[float]]:
    """Corner points as plain float pairs (rounded to a tenth of a pixel)."""
    return [[round(float(point[0]), 1), round(float(point[1]), 1)] for point in points]


def _number(value: float) -> str:
    if math.isfinite(value) and value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f'{value:.4g}'
