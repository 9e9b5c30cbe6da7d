"""The context bundle: what the reasoner gets for one incident, live or from a scenario file.

Key frames are references to camera frames, not the frames and not every frame: the first one
of the incident, the one at each change of its severity, and the latest. With them come the
alarm window (alarm, e-stop and safety-scanner observations around the incident), a mission
snapshot, recent ``/rosout`` lines and the incident's evidence, each with its provenance (source,
topic, stamp, confidence, trusted or not).

:meth:`ContextBundle.to_dict` gives plain JSON types and :meth:`ContextBundle.from_dict` reads
them back, so a bundle written to a scenario file is the bundle the live node builds: the
reasoner is tested offline on exactly what it gets on the robot.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.incidents import IncidentSnapshot
from muse_supervisor.perception.alarms import LogLine
from muse_supervisor.perception.signals import MissionSnapshot

FORMAT_VERSION = 1
_ALARM_SOURCES = (EvidenceSource.ALARM, EvidenceSource.ESTOP, EvidenceSource.SAFETY_SCANNER)
# Text the camera read (OCR lines, QR payloads, ArUco ids): untrusted context for the reasoner.
TEXT_SIGNALS = ('ocr.text', 'marker.qr', 'marker.aruco')
MAX_TEXT_READS = 20


@dataclass(frozen=True)
class KeyFrame:
    """A reference to one camera frame and why it was chosen (first, severity change, latest)."""

    stamp: float
    topic: str
    data_ref: str
    signal: str
    reasons: tuple[str, ...]
    summary: str = ''

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            'stamp': self.stamp,
            'topic': self.topic,
            'data_ref': self.data_ref,
            'signal': self.signal,
            'reasons': list(self.reasons),
            'summary': self.summary,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyFrame:
        """Inverse of :meth:`to_dict`."""
        return cls(
            float(data['stamp']),
            str(data['topic']),
            str(data['data_ref']),
            str(data.get('signal', '')),
            tuple(str(r) for r in data.get('reasons', [])),
            str(data.get('summary', '')),
        )


@dataclass(frozen=True)
class ContextBundle:
    """Everything the reasoner is given about one incident at ``built_at``."""

    incident: IncidentSnapshot
    key_frames: tuple[KeyFrame, ...]
    alarm_window: tuple[Observation, ...]
    mission: MissionSnapshot | None
    log_lines: tuple[LogLine, ...]
    built_at: float
    # What the camera read around the incident, newest last, one entry per distinct text
    # (untrusted: evidence, never instruction). Absent from bundles written before it existed.
    text_reads: tuple[Observation, ...] = ()

    @property
    def evidence(self) -> tuple[Observation, ...]:
        """The incident's evidence, oldest first, each with its provenance."""
        return self.incident.evidence

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only (``json.dumps`` works on the result)."""
        incident = self.incident.to_dict()
        evidence = incident.pop('evidence')
        return {
            'format': 'muse_supervisor.context',
            'version': FORMAT_VERSION,
            'built_at': self.built_at,
            'incident': incident,
            'evidence': evidence,
            'key_frames': [frame.to_dict() for frame in self.key_frames],
            'alarm_window': [observation.to_dict() for observation in self.alarm_window],
            'mission': self.mission.to_dict() if self.mission is not None else None,
            'log_lines': [line.to_dict() for line in self.log_lines],
            'text_reads': [observation.to_dict() for observation in self.text_reads],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContextBundle:
        """Read a bundle written by :meth:`to_dict`; :class:`ValueError` says what is wrong."""
        if data.get('format') != 'muse_supervisor.context':
            raise ValueError(
                f'not a context bundle: format {data.get("format")!r}, expected '
                "'muse_supervisor.context'"
            )
        if data.get('version') != FORMAT_VERSION:
            raise ValueError(
                f'context bundle version {data.get("version")!r}; this reader reads version '
                f'{FORMAT_VERSION}'
            )
        try:
            incident = IncidentSnapshot.from_dict(
                {**data['incident'], 'evidence': data.get('evidence', [])}
            )
            mission = data.get('mission')
            return cls(
                incident=incident,
                key_frames=tuple(KeyFrame.from_dict(f) for f in data.get('key_frames', [])),
                alarm_window=tuple(Observation.from_dict(o) for o in data.get('alarm_window', [])),
                mission=MissionSnapshot.from_dict(mission) if mission else None,
                log_lines=tuple(LogLine.from_dict(line) for line in data.get('log_lines', [])),
                built_at=float(data['built_at']),
                text_reads=tuple(Observation.from_dict(o) for o in data.get('text_reads', [])),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f'context bundle: missing or invalid field {error}') from error


@dataclass(frozen=True)
class ContextSettings:
    """How much history a bundle carries.

    ``window``: seconds before the incident opened from which alarms and log lines are included;
    ``log_lines``: at most this many (the latest); ``history``: observations remembered in all.
    """

    window: float = 120.0
    log_lines: int = 50
    history: int = 5000

    def __post_init__(self) -> None:
        if self.window < 0 or self.log_lines < 0 or self.history < 1:
            raise ValueError(
                f'context settings: expected window >= 0 s, log_lines >= 0 and history >= 1; got '
                f'{self.window}, {self.log_lines}, {self.history}'
            )


class ContextBuilder:
    """Remembers recent observations, log lines and the mission, and builds bundles from them.

    Bounded memory: the node feeds it everything it feeds the tracker, and the oldest entries
    fall out first.
    """

    def __init__(self, settings: ContextSettings | None = None) -> None:
        self._settings = settings or ContextSettings()
        self._observations: deque[Observation] = deque(maxlen=self._settings.history)
        self._logs: deque[LogLine] = deque(maxlen=max(1, self._settings.log_lines * 4))
        self._mission: MissionSnapshot | None = None

    def add_observation(self, observation: Observation) -> None:
        """Remember an observation (camera results included: their ``data_ref`` is the frame)."""
        self._observations.append(observation)

    def add_log(self, line: LogLine) -> None:
        """Remember a ``/rosout`` line (any level: context, not evidence)."""
        self._logs.append(line)

    def set_mission(self, mission: MissionSnapshot) -> None:
        """The latest mission snapshot."""
        self._mission = mission

    def build(self, incident: IncidentSnapshot, now: float) -> ContextBundle:
        """The bundle for ``incident`` at ``now``."""
        start = incident.opened - self._settings.window
        history = [o for o in self._observations if start <= o.stamp <= now]
        alarms = tuple(
            o for o in history if o.source in _ALARM_SOURCES or o.signal.startswith('alarm.')
        )
        logs = [line for line in self._logs if start <= line.stamp <= now]
        logs = logs[-self._settings.log_lines :] if self._settings.log_lines else []
        frames = key_frames(incident, [*incident.evidence, *history])
        return ContextBundle(
            incident, frames, alarms, self._mission, tuple(logs), now, text_reads(history)
        )


def text_reads(observations: Iterable[Observation]) -> tuple[Observation, ...]:
    """The camera's text reads among ``observations``: the latest of each distinct text."""
    latest: dict[tuple[str, str], Observation] = {}
    for observation in observations:
        if observation.signal in TEXT_SIGNALS and observation.active:
            read = next(
                (v for k, v in observation.attributes if k in ('text', 'payload', 'id')), ''
            )
            key = (observation.signal, read)
            latest.pop(key, None)
            latest[key] = observation
    return tuple(latest.values())[-MAX_TEXT_READS:]


def key_frames(
    incident: IncidentSnapshot, observations: Iterable[Observation]
) -> tuple[KeyFrame, ...]:
    """The first frame of the incident, the frame at each severity change, and the latest.

    Frames are camera observations; the reference is the observation's ``data_ref`` or, when the
    analyzer left it empty, ``<topic>@<stamp>`` (a recorded frame is found by topic and stamp).
    One frame chosen for several reasons appears once, with all its reasons. Frames before the
    incident opened are used only when there is none after (the camera may have seen it coming).
    """
    frames: dict[str, Observation] = {}
    for observation in observations:
        if observation.source is EvidenceSource.CAMERA:
            frames.setdefault(frame_ref(observation), observation)
    ordered = sorted(frames.values(), key=lambda o: (o.stamp, frame_ref(o)))
    if not ordered:
        return ()
    reasons: dict[str, list[str]] = {}

    def pick(at: float, reason: str) -> None:
        after = [o for o in ordered if o.stamp >= at]
        chosen = after[0] if after else ordered[-1]
        entry = reasons.setdefault(frame_ref(chosen), [])
        if reason not in entry:
            entry.append(reason)

    pick(incident.opened, 'first')
    for stamp, severity in incident.severity_history[1:]:
        pick(stamp, f'severity {severity.name.lower()}')
    latest = reasons.setdefault(frame_ref(ordered[-1]), [])
    if 'latest' not in latest:
        latest.append('latest')
    chosen = sorted(reasons)
    return tuple(
        KeyFrame(o.stamp, o.topic, ref, o.signal, tuple(reasons[ref]), o.summary)
        for ref, o in sorted(((r, frames[r]) for r in chosen), key=lambda p: (p[1].stamp, p[0]))
    )


def frame_ref(observation: Observation) -> str:
    """The frame an observation was made on: its ``data_ref``, else ``<topic>@<stamp>``."""
    return observation.data_ref or f'{observation.topic}@{observation.stamp:.9f}'
