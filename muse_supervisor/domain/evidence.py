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
import math
from dataclasses import dataclass, field, replace
from typing import Any


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

    ``trusted`` is False when the observation carries text from the world (a sign, a QR code, an
    alarm's or a log line's text); ``untrusted`` names the attributes holding that text, so that a
    consumer can show them quoted and never read them as instructions (DOMAIN.md invariant 5).
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
    untrusted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.signal:
            raise ValueError('an observation needs a signal name (e.g. "image.dark")')
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f'confidence must be in [0, 1], got {self.confidence!r}')
        if not math.isfinite(self.stamp):
            raise ValueError(f'stamp must be a finite time in seconds, got {self.stamp!r}')
        if self.untrusted and self.trusted:
            raise ValueError(
                f'observation {self.signal!r} names untrusted attributes {list(self.untrusted)} '
                'but says trusted=True; text from the world is never trusted'
            )

    def attribute(self, key: str, default: str = '') -> str:
        """The value of attribute ``key`` (``default`` when absent)."""
        return next((value for name, value in self.attributes if name == key), default)

    def with_attributes(self, **extra: str) -> Observation:
        """A copy with ``extra`` attributes set (replacing any of the same name)."""
        kept = tuple((k, v) for k, v in self.attributes if k not in extra)
        return replace(self, attributes=kept + tuple(extra.items()))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (source by name), the form scenario files and context bundles use."""
        return {
            'signal': self.signal,
            'source': self.source.name.lower(),
            'topic': self.topic,
            'producer': self.producer,
            'summary': self.summary,
            'stamp': self.stamp,
            'confidence': self.confidence,
            'active': self.active,
            'trusted': self.trusted,
            'frame_id': self.frame_id,
            'data_ref': self.data_ref,
            'attributes': [[key, value] for key, value in self.attributes],
            'untrusted': list(self.untrusted),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Observation:
        """Inverse of :meth:`to_dict`; a missing or misspelt field raises a :class:`ValueError`."""
        try:
            return cls(
                signal=str(data['signal']),
                source=EvidenceSource[str(data['source']).upper()],
                topic=str(data['topic']),
                producer=str(data['producer']),
                summary=str(data['summary']),
                stamp=float(data['stamp']),
                confidence=float(data.get('confidence', 1.0)),
                active=bool(data.get('active', True)),
                trusted=bool(data.get('trusted', True)),
                frame_id=str(data.get('frame_id', '')),
                data_ref=str(data.get('data_ref', '')),
                attributes=tuple((str(k), str(v)) for k, v in data.get('attributes', [])),
                untrusted=tuple(str(k) for k in data.get('untrusted', [])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f'observation record: missing or invalid field {error}') from error
