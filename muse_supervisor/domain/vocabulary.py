"""Incident kinds, skills, tiers and argument schemas (see docs/DOMAIN.md).

Plain enumerations and frozen dataclasses: the reasoner uses them to build plans, the safety gate
to validate them, the HMI to display them. Numeric values equal the constants of the ROS
interfaces so that conversion is a cast, not a lookup table that can drift.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass


class IncidentKind(enum.IntEnum):
    """Closed vocabulary of incidents; values equal ``Incident.KIND_*``."""

    UNKNOWN = 0
    PERSON_IN_ZONE = 1
    ESTOP_ACTIVE = 2
    PATH_BLOCKED = 3
    SPILL_OR_DEBRIS = 4
    CAMERA_FAULT = 5
    SENSOR_FAULT = 6
    LOW_BATTERY = 7
    MOTOR_FAULT = 8
    LOCALIZATION_LOST = 9
    DOCKING_FAILED = 10
    PAYLOAD_MISMATCH = 11
    MISSION_TIMEOUT = 12
    COMMS_LOSS = 13


# Most safety-critical first: when several kinds are present the first one in this order governs.
# People and e-stops come first (invariant 2); faults that make motion unsafe before those that
# only make the mission fail; UNKNOWN governs only when nothing else is known.
SAFETY_PRIORITY: tuple[IncidentKind, ...] = (
    IncidentKind.PERSON_IN_ZONE,
    IncidentKind.ESTOP_ACTIVE,
    IncidentKind.COMMS_LOSS,
    IncidentKind.MOTOR_FAULT,
    IncidentKind.SENSOR_FAULT,
    IncidentKind.LOCALIZATION_LOST,
    IncidentKind.CAMERA_FAULT,
    IncidentKind.SPILL_OR_DEBRIS,
    IncidentKind.PATH_BLOCKED,
    IncidentKind.LOW_BATTERY,
    IncidentKind.DOCKING_FAILED,
    IncidentKind.PAYLOAD_MISMATCH,
    IncidentKind.MISSION_TIMEOUT,
    IncidentKind.UNKNOWN,
)


def governing_kind(kinds: Iterable[IncidentKind]) -> IncidentKind:
    """Return the most safety-critical of ``kinds`` (UNKNOWN when there are none)."""
    present = set(kinds)
    for kind in SAFETY_PRIORITY:
        if kind in present:
            return kind
    return IncidentKind.UNKNOWN


class Severity(enum.IntEnum):
    """Values equal ``Incident.SEVERITY_*`` and ``Alarm.SEVERITY_*``."""

    INFO = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3


class Tier(enum.IntEnum):
    """How much authority a skill needs; values equal ``RecoveryPlan.TIER_*``.

    A: always allowed. B: reversible motion, allowed by policy when no safety invariant is active.
    C: needs an operator's explicit approval, always.
    """

    A = 1
    B = 2
    C = 3


class Skill(enum.IntEnum):
    """The only things a plan may contain; values equal ``PlanStep.SKILL_*``."""

    STOP = 0
    WAIT = 1
    SLOW_DOWN = 2
    REQUEST_OPERATOR = 3
    NOTIFY = 4
    CAPTURE_EVIDENCE = 5
    REVERSE = 6
    ROTATE = 7
    RELOCALIZE = 8
    NAVIGATE_TO = 9
    REROUTE = 10
    DOCK = 11
    RETRY_STEP = 12
    RESET_FAULT = 13
    RESUME_MISSION = 14


class ArgumentType(enum.IntEnum):
    """Values equal ``SkillArgument.TYPE_*``."""

    NUMBER = 1
    TEXT = 2
    POSE = 3


class NotifyRole(str, enum.Enum):
    """Who a ``notify`` step may address."""

    MAINTENANCE = 'maintenance'
    CLEANING = 'cleaning'
    SUPERVISOR = 'supervisor'


@dataclass(frozen=True)
class ArgumentSpec:
    """Schema of one skill argument: accepted types and, for numbers, the absolute bounds.

    These bounds are the vocabulary's outer limits (a plan outside them is malformed); the safety
    gate's configuration narrows them further for a given robot (e.g. its reverse distance limit).
    """

    name: str
    types: tuple[ArgumentType, ...]
    required: bool = True
    minimum: float = -math.inf
    maximum: float = math.inf
    choices: tuple[str, ...] = ()
    max_length: int = 500


@dataclass(frozen=True)
class SkillSpec:
    """A skill's tier, whether it moves the robot, and its argument schema."""

    skill: Skill
    tier: Tier
    moves_robot: bool
    arguments: tuple[ArgumentSpec, ...] = ()

    @property
    def name(self) -> str:
        """The skill's name as plans and operators write it, e.g. ``navigate_to``."""
        return self.skill.name.lower()


_NUMBER = (ArgumentType.NUMBER,)
_TEXT = (ArgumentType.TEXT,)
_TEXT_OR_POSE = (ArgumentType.TEXT, ArgumentType.POSE)

SKILLS: dict[Skill, SkillSpec] = {
    spec.skill: spec
    for spec in (
        SkillSpec(Skill.STOP, Tier.A, moves_robot=False),
        SkillSpec(
            Skill.WAIT, Tier.A, False, (ArgumentSpec('seconds', _NUMBER, True, 0.0, 600.0),)
        ),
        SkillSpec(
            Skill.SLOW_DOWN, Tier.A, False, (ArgumentSpec('max_speed', _NUMBER, True, 0.0, 2.0),)
        ),
        SkillSpec(Skill.REQUEST_OPERATOR, Tier.A, False, (ArgumentSpec('message', _TEXT),)),
        SkillSpec(
            Skill.NOTIFY,
            Tier.A,
            False,
            (
                ArgumentSpec('role', _TEXT, choices=tuple(role.value for role in NotifyRole)),
                ArgumentSpec('message', _TEXT),
            ),
        ),
        SkillSpec(
            Skill.CAPTURE_EVIDENCE, Tier.A, False, (ArgumentSpec('camera', _TEXT, max_length=100),)
        ),
        SkillSpec(
            Skill.REVERSE, Tier.B, True, (ArgumentSpec('distance', _NUMBER, True, 0.0, 2.0),)
        ),
        SkillSpec(
            Skill.ROTATE,
            Tier.B,
            True,
            (ArgumentSpec('angle', _NUMBER, True, -2 * math.pi, 2 * math.pi),),
        ),
        SkillSpec(Skill.RELOCALIZE, Tier.B, True),
        SkillSpec(Skill.NAVIGATE_TO, Tier.B, True, (ArgumentSpec('target', _TEXT_OR_POSE),)),
        SkillSpec(
            Skill.REROUTE,
            Tier.B,
            True,
            (
                ArgumentSpec('avoid', _TEXT_OR_POSE),
                ArgumentSpec('radius', _NUMBER, required=False, minimum=0.1, maximum=20.0),
            ),
        ),
        SkillSpec(Skill.DOCK, Tier.B, True, (ArgumentSpec('station', _TEXT, max_length=100),)),
        SkillSpec(Skill.RETRY_STEP, Tier.B, True),
        SkillSpec(
            Skill.RESET_FAULT, Tier.C, False, (ArgumentSpec('device', _TEXT, max_length=100),)
        ),
        SkillSpec(Skill.RESUME_MISSION, Tier.C, True),
    )
}
