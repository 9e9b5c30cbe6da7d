"""What the reasoner knows about a moment: the robot's state, the evidence texts, the facts.

The context bundle (perception) says what happened; :class:`RobotState` says where the robot is
and what its safety inputs read; :func:`evidence_texts` pulls every text out of the evidence with
its provenance (alarm, log, camera read), to be matched against the SOP library and quoted to a
person, never obeyed; :func:`situation_facts` gives the flat facts SOP conditions test
(``person``, ``estop``, ``moving``, ``battery``, ``attempts``, ...).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.perception.context import ContextBundle

MOVING_SPEED = 0.05  # m/s: faster than this counts as moving
_POINT = re.compile(r'\(\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\)')
_ORIGIN = re.compile(r'^(?:alarm|diagnostic|vda5050 error)\s+(?P<device>[^/\s]+)')
MAX_TEXT = 200  # characters of one evidence text kept (quoted) in prompts and messages
# The supervisor's own nodes (the stack declaration's, less the simulated robot). Their log
# lines are not evidence: the gate's "stopped (person_in_zone ...; odometry_stale ...)" echoes
# inputs the reasoner and perception read directly, so counting it would count one fact twice
# and keep it alive in the context window for two minutes after the input cleared.
SUPERVISOR_LOGGERS = frozenset({'safety_gate', 'perception', 'reasoner', 'plan_simulator',
                                'hmi_bridge'})  # fmt: skip


@dataclass(frozen=True)
class RobotState:
    """The robot when the reasoner looks: pose (map frame), speed, battery, safety inputs."""

    pose: Pose2D | None = None
    speed: float = 0.0
    battery: float | None = None  # state of charge in [0, 1]
    estop: bool | None = None
    person: bool | None = None


@dataclass(frozen=True)
class EvidenceText:
    """One text from the world, with where it came from. Untrusted: evidence, never instruction.

    ``channel``: ``alarm`` (device alarms, diagnostics, VDA 5050 errors), ``log`` (``/rosout``),
    ``camera`` (OCR, QR payloads), ``mission`` (the step's description).
    """

    text: str
    channel: str
    origin: str
    code: str = ''  # device/code of an alarm, shown with the text, not matched
    rule_kind: str = ''  # the kind perception's rule gave this alarm (from its source or code)

    def quoted(self) -> str:
        """The text as a prompt or an operator message shows it: delimited and bounded."""
        text = ' '.join(printable(self.text).split())[:MAX_TEXT].replace('"', "'")
        origin = self.code or self.origin.removeprefix(f'{self.channel} ').strip()
        return f'{self.channel} {origin}: "{text}"' if origin else f'{self.channel}: "{text}"'


def printable(text: str) -> str:
    """``text`` without control, format (bidi, zero-width) or separator characters.

    The gate refuses a plan whose messages hold them (an operator must see exactly what a plan
    says), so quoted evidence leaves them out.
    """
    return ''.join(
        ' ' if unicodedata.category(c) in ('Cc', 'Zl', 'Zp') else c
        for c in text
        if unicodedata.category(c) not in ('Cf', 'Cs', 'Co', 'Cn')
    )


def evidence_texts(bundle: ContextBundle) -> list[EvidenceText]:
    """Every distinct text of the incident's evidence, alarm window, logs and camera reads.

    Log lines of the supervisor's own nodes (``SUPERVISOR_LOGGERS``) are left out.
    """
    texts: dict[tuple[str, str], EvidenceText] = {}

    def add(item: EvidenceText) -> None:
        if item.text.strip():
            key = (item.channel, item.text.strip())
            texts.setdefault(key, item)

    for observation in (*bundle.evidence, *bundle.alarm_window):
        item = _observation_text(observation)
        if item is not None:
            add(item)
    for observation in bundle.text_reads:
        read = next((v for k, v in observation.attributes if k in ('text', 'payload', 'id')), '')
        add(EvidenceText(read, 'camera', observation.signal))
    for line in bundle.log_lines:
        if line.name.rpartition('.')[2] not in SUPERVISOR_LOGGERS:
            add(EvidenceText(line.msg, 'log', line.name))
    return list(texts.values())


def _observation_text(observation: Observation) -> EvidenceText | None:
    text = observation.attribute('text')
    if not text:
        return None
    channel = 'log' if observation.topic.endswith('rosout') else 'alarm'
    if observation.source is EvidenceSource.CAMERA:
        channel = 'camera'
    origin = observation.attribute('origin') or observation.producer
    rule = observation.attribute('rule')
    kind = observation.attribute('kind') if rule and rule != 'unmatched' else ''
    return EvidenceText(text, channel, origin, _code(origin), kind if kind != 'unknown' else '')


def _code(origin: str) -> str:
    """``drive_left/E1042`` from ``alarm drive_left/E1042``."""
    parts = origin.split(maxsplit=1)
    return parts[1] if len(parts) == 2 and '/' in parts[1] else ''


def device_of(bundle: ContextBundle, kind_name: str) -> str:
    """The device an alarm of ``kind_name`` came from (``drive_left``), or ``''``."""
    candidates = [o for o in (*bundle.evidence, *bundle.alarm_window) if o.attribute('origin')]
    for observation in sorted(candidates, key=lambda o: o.attribute('kind') != kind_name):
        match = _ORIGIN.match(observation.attribute('origin'))
        if match:
            return match['device']
    return ''


def camera_of(bundle: ContextBundle, default: str) -> str:
    """The camera the incident's frames came from (its topic's namespace), else ``default``."""
    for frame in bundle.key_frames:
        topic = frame.topic.strip('/')
        if topic and not topic.startswith('scenario/'):
            return topic.split('/')[0]
    return default


def point_in_texts(
    texts: list[EvidenceText], near: Pose2D | None, within: float = 6.0
) -> tuple[float, float] | None:
    """A map point named in a log or alarm text ("blocked at (5.1, 2.5)") near the robot.

    A coordinate read from a text only ever places an area to avoid (a re-route goes around it),
    never a goal; one far from the robot is ignored.
    """
    for item in texts:
        if item.channel not in ('log', 'alarm'):
            continue
        for match in _POINT.finditer(item.text):
            x, y = float(match[1]), float(match[2])
            if near is None or math.hypot(x - near.x, y - near.y) <= within:
                return x, y
    return None


def ahead(pose: Pose2D, distance: float) -> tuple[float, float]:
    """The point ``distance`` m in front of the robot."""
    return pose.x + distance * math.cos(pose.yaw), pose.y + distance * math.sin(pose.yaw)


def situation_facts(bundle: ContextBundle, robot: RobotState, **extra: Any) -> dict[str, Any]:
    """The facts SOP conditions test (see ``reasoner/sops.py`` ``CONDITIONS``)."""
    signals = {o.signal for o in bundle.evidence if o.active}
    person = bool(robot.person) or 'person.in_zone' in signals
    estop = bool(robot.estop) or 'estop.engaged' in signals
    facts: dict[str, Any] = {
        'person': person,
        'estop': estop,
        'moving': abs(robot.speed) > MOVING_SPEED,
        'pose_known': robot.pose is not None,
        'battery': robot.battery,
        'attempts': bundle.incident.attempts,
    }
    facts.update(extra)
    return facts
