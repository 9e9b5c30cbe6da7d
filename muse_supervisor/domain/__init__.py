"""The shared vocabulary of the supervisor (incident kinds, skills, tiers), free of ROS.

Every component speaks these enumerations; the numeric values are the constants of the ROS
interfaces (``Incident.KIND_*``, ``PlanStep.SKILL_*``, ``RecoveryPlan.TIER_*``), and the test
suite checks that the two never drift apart.
"""

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
    'ArgumentSpec',
    'ArgumentType',
    'IncidentKind',
    'NotifyRole',
    'Severity',
    'Skill',
    'SkillSpec',
    'Tier',
    'governing_kind',
]
