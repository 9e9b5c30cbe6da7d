"""The shared vocabulary and types of the supervisor, free of ROS.

Incident kinds, skills and tiers (``vocabulary``), plans and their digest (``plans``), planar
motion (``motion``), geometry (``geometry``), the observations behind incidents (``evidence``)
and the incident lifecycle and snapshot (``incidents``): perception, reasoner, simulator, HMI and
safety gate all import them from here, never from one another.

Every component speaks these enumerations; the numeric values are the constants of the ROS
interfaces (``Incident.KIND_*``, ``PlanStep.SKILL_*``, ``RecoveryPlan.TIER_*``), and the test
suite checks that the two never drift apart.
"""

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.incidents import (
    TERMINAL_STATES,
    TRANSITIONS,
    Cause,
    IllegalTransitionError,
    IncidentAction,
    IncidentSnapshot,
    IncidentState,
    MissionStatus,
    Transition,
    check_transition,
)
from muse_supervisor.domain.motion import ZERO, Pose2D, Velocity
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step, plan_digest
from muse_supervisor.domain.vocabulary import (
    SKILLS,
    ArgumentSpec,
    ArgumentType,
    IncidentKind,
    NotifyRole,
    Severity,
    Skill,
    SkillSpec,
    Tier,
    governing_kind,
)

__all__ = [
    'SKILLS',
    'TERMINAL_STATES',
    'TRANSITIONS',
    'ZERO',
    'Argument',
    'ArgumentSpec',
    'ArgumentType',
    'Cause',
    'EvidenceSource',
    'IllegalTransitionError',
    'IncidentAction',
    'IncidentKind',
    'IncidentSnapshot',
    'IncidentState',
    'MissionStatus',
    'NotifyRole',
    'Observation',
    'Plan',
    'Pose2D',
    'PoseTarget',
    'Severity',
    'Skill',
    'SkillSpec',
    'Step',
    'Tier',
    'Transition',
    'Velocity',
    'check_transition',
    'governing_kind',
    'plan_digest',
]
