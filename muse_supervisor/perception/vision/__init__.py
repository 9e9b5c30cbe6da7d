"""The pluggable visual analyzers: camera frames in, :class:`Observation` s out (ROS-free).

A node decodes ``sensor_msgs/Image`` / ``CompressedImage`` fields into a :class:`Frame`
(:func:`decode_image`, :func:`decode_compressed_image`), keeps the latest one, and runs each
:class:`Analyzer` on a worker at its own rate. Every observation carries the frame's stamp (not
the time it was processed), ``source=CAMERA``, ``topic`` (the frame's), ``producer`` (the
analyzer's versioned name), a confidence, and ``active``: True when the condition is seen, False
when it was checked on this frame and is not there (what verification of a cleared incident
waits for). Text read from the world is ``trusted=False`` (DOMAIN.md invariant 5).

Signals (the names the incident rules map to incident kinds):

- ``image.dark``: most pixels below a luminance level (``image_health:opencv-4.x``);
- ``image.overexposed``: most pixels saturated (``image_health``);
- ``image.uniform``: no structure, the lens covered or occluded (``image_health``);
- ``image.blurred``: soft edges, judged only on frames neither dark, saturated nor uniform
  (``image_health``);
- ``image.frozen``: the same content or the same stamp over N frames (``image_health``);
- ``corridor.obstructed``: the drive corridor ahead is not clear floor (``floor:opencv-4.x``);
- ``floor.anomaly``: liquid sheen or debris on the floor, ``kind`` says which (``floor``);
- ``ocr.text``: a line of text read, untrusted (``ocr:rapidocr-3.x``);
- ``marker.qr``: a QR code in view, its payload untrusted (``markers:opencv-4.x``);
- ``marker.aruco``: an ArUco marker in view, its id untrusted (``markers``);
- ``person.detected``: a person in view, ``in_corridor`` says where (``person:hog-opencv-4.x``).

Each analyzer's attributes are listed in its module and in ``docs/PERCEPTION.md``; the cost of
each per frame is measured by ``bench/analyzer_cost.py``.
"""

from __future__ import annotations

from muse_supervisor.perception.vision.analyzer import Analyzer, camera_observation
from muse_supervisor.perception.vision.floor import (
    CORRIDOR_OBSTRUCTED,
    DRIVE_CORRIDOR,
    FLOOR_ANOMALY,
    FloorAnalyzer,
    Trapezoid,
)
from muse_supervisor.perception.vision.frames import (
    SUPPORTED_RAW_ENCODINGS,
    Frame,
    decode_compressed_image,
    decode_image,
)
from muse_supervisor.perception.vision.health import (
    BLURRED,
    DARK,
    FROZEN,
    OVEREXPOSED,
    UNIFORM,
    ImageHealthAnalyzer,
)
from muse_supervisor.perception.vision.markers import MARKER_ARUCO, MARKER_QR, MarkerAnalyzer
from muse_supervisor.perception.vision.ocr import OCR_TEXT, OcrAnalyzer
from muse_supervisor.perception.vision.person import PERSON_DETECTED, PersonAnalyzer

SIGNALS = (
    DARK,
    OVEREXPOSED,
    UNIFORM,
    BLURRED,
    FROZEN,
    CORRIDOR_OBSTRUCTED,
    FLOOR_ANOMALY,
    OCR_TEXT,
    MARKER_QR,
    MARKER_ARUCO,
    PERSON_DETECTED,
)
"""Every signal name a vision analyzer emits."""

UNTRUSTED_SIGNALS = (OCR_TEXT, MARKER_QR, MARKER_ARUCO)
"""Signals whose observations carry text or codes read from the world: always untrusted."""


def default_analyzers() -> list[Analyzer]:
    """One of each analyzer with its documented defaults (OCR's engine still loads lazily)."""
    return [
        ImageHealthAnalyzer(),
        FloorAnalyzer(),
        OcrAnalyzer(),
        MarkerAnalyzer(),
        PersonAnalyzer(),
    ]


__all__ = [
    'BLURRED',
    'CORRIDOR_OBSTRUCTED',
    'DARK',
    'DRIVE_CORRIDOR',
    'FLOOR_ANOMALY',
    'FROZEN',
    'MARKER_ARUCO',
    'MARKER_QR',
    'OCR_TEXT',
    'OVEREXPOSED',
    'PERSON_DETECTED',
    'SIGNALS',
    'SUPPORTED_RAW_ENCODINGS',
    'UNIFORM',
    'UNTRUSTED_SIGNALS',
    'Analyzer',
    'FloorAnalyzer',
    'Frame',
    'ImageHealthAnalyzer',
    'MarkerAnalyzer',
    'OcrAnalyzer',
    'PersonAnalyzer',
    'Trapezoid',
    'camera_observation',
    'decode_compressed_image',
    'decode_image',
    'default_analyzers',
]
