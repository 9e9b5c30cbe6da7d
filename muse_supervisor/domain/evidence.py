"""One observation behind an incident, with its provenance (the core form of ``Evidence.msg``).

Analyzers (camera), alarm rules (``Alarm``, ``/diagnostics``, ``/rosout``) and the mission,
battery, e-stop and person inputs all produce :class:`Observation` s; the incident rules turn
them into incidents. Every observation says where it came from, when the thing was seen (the
stamp of the frame or message, not the time it was processed), how sure its producer is, and
whether its text may be trusted. Text read from the world (OCR, QR codes, alarm text) is never
trusted (DOMAIN.md invariant 5): it is shown and recorded, never obeyed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class EvidenceSource(enum.IntEnum):
    """Values equal ``Evidence.SOURCE_*``."""

    UNKNOWN = 0
    CAMERA = 1
    ALARM = 2
    MISSION = 3
    ODOMETRY = 4
    SAFETY_SCANNER = 5
    ESTOP = 6
    OPERATOR = 7
    GATE = 8


@dataclass(frozen=True)
class Observation:
    """What one producer saw at one moment.

    ``signal`` is the machine-readable finding the incident rules match on, dotted by family
    (``image.dark``, ``image.frozen``, ``corridor.obstructed``, ``ocr.text``, ``marker.qr``,
    ``person.detected``, ``alarm.raised``, ...); ``active`` is False when the producer sees the
    condition cleared (an alarm cleared, a healthy frame), which is what verification waits for.
    """

    signal: str
    source: EvidenceSource
    topic: str
    producer: str
    summary: str
    stamp: float
    confidence: float = 1.0
    active: bool = True
    trusted: bool = True
    frame_id: str = ''
    data_ref: str = ''
    attributes: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not self.signal:
            raise ValueError('an observation needs a signal name (e.g. "image.dark")')
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f'confidence must be in [0, 1], got {self.confidence!r}')

    def attribute(self, key: str, default: str = '') -> str:
        """The value of attribute ``key`` (``default`` when absent)."""
        return next((value for name, value in self.attributes if name == key), default)
