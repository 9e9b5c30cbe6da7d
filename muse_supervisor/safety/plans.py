"""Recovery plans as the gate sees them, and the validation every plan passes before it runs.

Validation happens before the first step and fails closed: anything not understood is refused.
It checks the schema (known skills, required and typed arguments, finite numbers), the skill
allow-list, argument ranges (the vocabulary's bounds narrowed by this robot's configuration), the
tier (tier C needs an operator's approval of exactly this plan), and the safety invariants (no
motion while an e-stop, a person in the zone or a latched fault holds the robot).
"""

from __future__ import annotations

import enum
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from muse_supervisor.domain import SKILLS, ArgumentType, Skill, Tier
from muse_supervisor.domain.plans import Argument, Plan, Step
from muse_supervisor.domain.vocabulary import ArgumentSpec
from muse_supervisor.safety.approvals import Approval
from muse_supervisor.safety.config import GateConfig

MAX_STEPS = 32
MAX_STEP_TIMEOUT = 3600.0
# Control, format (bidi overrides, zero-width) and line/paragraph separator characters: an
# operator must see exactly what a plan says.
_UNPRINTABLE = frozenset({'Cc', 'Cf', 'Zl', 'Zp'})


class PlanError(enum.IntEnum):
    """Result codes of plan execution; values equal ``ExecutePlan.Result`` constants."""

    NONE = 0
    UNKNOWN = 900
    GATE_NOT_ACTIVE = 901
    INVALID_PLAN = 902
    SKILL_NOT_ALLOWED = 903
    ARGUMENT_OUT_OF_RANGE = 904
    APPROVAL_REQUIRED = 905
    SAFETY_INVARIANT_ACTIVE = 906
    STEP_FAILED = 907
    STEP_TIMEOUT = 908
    CANCELED = 909
    BUSY = 910


@dataclass(frozen=True)
class Verdict:
    """Outcome of validation: ``PlanError.NONE`` when the plan may run."""

    error: PlanError
    message: str

    @property
    def ok(self) -> bool:
        """Whether the plan may run."""
        return self.error is PlanError.NONE


def required_tier(plan: Plan) -> Tier:
    """The highest tier among the plan's (known) skills."""
    tiers = [SKILLS[Skill(step.skill)].tier for step in plan.steps if step.skill in _SKILL_VALUES]
    return max(tiers, default=Tier.A)


def moves_robot(plan: Plan) -> bool:
    """Whether any step of the plan moves the robot."""
    return any(
        step.skill in _SKILL_VALUES and SKILLS[Skill(step.skill)].moves_robot
        for step in plan.steps
    )


_SKILL_VALUES = frozenset(int(skill) for skill in Skill)


def validate_plan(
    plan: Plan,
    config: GateConfig,
    approvals: Mapping[str, Approval],
    invariant_active: str = '',
    allowed_skills: frozenset[Skill] = frozenset(Skill),
) -> Verdict:
    """Decide whether ``plan`` may run now. ``invariant_active`` names an active invariant."""
    try:
        return _validate(plan, config, approvals, invariant_active, allowed_skills)
    except Exception as error:  # a validator that crashes must refuse, never allow
        return Verdict(PlanError.UNKNOWN, f'validation failed: {error!r}')


def _validate(
    plan: Plan,
    config: GateConfig,
    approvals: Mapping[str, Approval],
    invariant_active: str,
    allowed_skills: frozenset[Skill],
) -> Verdict:
    if not plan.id.strip():
        return Verdict(PlanError.INVALID_PLAN, 'plan id is empty')
    if not plan.steps:
        return Verdict(PlanError.INVALID_PLAN, 'plan has no steps')
    if len(plan.steps) > MAX_STEPS:
        return Verdict(
            PlanError.INVALID_PLAN, f'plan has {len(plan.steps)} steps, at most {MAX_STEPS}'
        )
    malformed = _malformed(plan)
    if malformed:
        return Verdict(PlanError.INVALID_PLAN, malformed)
    for index, step in enumerate(plan.steps):
        verdict = _check_step(index, step, config, allowed_skills)
        if not verdict.ok:
            return verdict
    tier = required_tier(plan)
    if plan.tier not in (Tier.A, Tier.B, Tier.C) or plan.tier < tier:
        return Verdict(
            PlanError.INVALID_PLAN,
            f'plan declares tier {plan.tier} but its steps need tier {tier.name} ({int(tier)})',
        )
    declared = Tier(plan.tier)
    if declared is Tier.C and not plan.requires_approval:
        return Verdict(PlanError.INVALID_PLAN, 'a tier C plan must say requires_approval')
    if invariant_active and moves_robot(plan):
        return Verdict(
            PlanError.SAFETY_INVARIANT_ACTIVE,
            f'plan moves the robot while {invariant_active}; only non-moving steps may run',
        )
    needs_approval = (
        declared is Tier.C
        or plan.requires_approval
        or (declared is Tier.B and not config.limits.allow_tier_b)
    )
    if needs_approval:
        approval = approvals.get(plan.id)
        if approval is None or not approval.operator_id.strip():
            return Verdict(
                PlanError.APPROVAL_REQUIRED,
                f'plan {plan.id} (tier {declared.name}) needs an operator approval (ApprovePlan)',
            )
        if approval.digest != plan.digest():
            return Verdict(
                PlanError.APPROVAL_REQUIRED,
                f'plan {plan.id} differs from the version {approval.operator_id} approved',
            )
    return Verdict(PlanError.NONE, 'plan is valid')


def _malformed(plan: Plan) -> str:
    """What is not of the plan's types (plans built in Python can hold anything), or ``''``."""
    if not isinstance(plan.steps, tuple):
        return 'plan steps are not a sequence of steps'
    for index, step in enumerate(plan.steps):
        if not isinstance(step, Step) or not isinstance(step.arguments, tuple):
            return f'step {index} is malformed'
        if not all(isinstance(argument, Argument) for argument in step.arguments):
            return f'step {index} has a malformed argument'
    return ''


def _check_step(
    index: int, step: Step, config: GateConfig, allowed_skills: frozenset[Skill]
) -> Verdict:
    where = f'step {index}'
    if step.skill not in _SKILL_VALUES:
        return Verdict(PlanError.SKILL_NOT_ALLOWED, f'{where}: unknown skill {step.skill}')
    skill = Skill(step.skill)
    spec = SKILLS[skill]
    where = f'step {index} ({spec.name})'
    if skill not in allowed_skills:
        return Verdict(PlanError.SKILL_NOT_ALLOWED, f'{where}: skill not allowed on this robot')
    if not math.isfinite(step.timeout) or not 0.0 <= step.timeout <= MAX_STEP_TIMEOUT:
        return Verdict(
            PlanError.ARGUMENT_OUT_OF_RANGE,
            f'{where}: timeout {step.timeout} s outside [0, {MAX_STEP_TIMEOUT:g}]',
        )
    names = [argument.name for argument in step.arguments]
    known = {argument.name: argument for argument in spec.arguments}
    if len(set(names)) != len(names):
        return Verdict(PlanError.INVALID_PLAN, f'{where}: repeated argument in {names}')
    unknown = sorted(set(names) - set(known))
    if unknown:
        return Verdict(
            PlanError.INVALID_PLAN,
            f'{where}: unknown argument(s) {unknown}; expected {sorted(known) or "none"}',
        )
    for argument_spec in spec.arguments:
        argument = step.argument(argument_spec.name)
        if argument is None:
            if argument_spec.required:
                return Verdict(
                    PlanError.INVALID_PLAN, f'{where}: missing argument {argument_spec.name!r}'
                )
            continue
        verdict = _check_argument(where, skill, argument_spec, argument, config)
        if not verdict.ok:
            return verdict
    return Verdict(PlanError.NONE, '')


def _robot_bound(skill: Skill, name: str, config: GateConfig) -> float | None:
    """The robot's own, tighter bound on a numeric argument, where its configuration sets one."""
    limits = config.limits
    bounds = {
        (Skill.REVERSE, 'distance'): limits.max_reverse_distance,
        (Skill.WAIT, 'seconds'): limits.max_wait,
        (Skill.SLOW_DOWN, 'max_speed'): limits.max_linear_speed,
    }
    return bounds.get((skill, name))


def _check_argument(
    where: str, skill: Skill, spec: ArgumentSpec, argument: Argument, config: GateConfig
) -> Verdict:
    label = f'{where}: argument {spec.name!r}'
    if argument.type not in [int(t) for t in spec.types]:
        expected = ' or '.join(t.name.lower() for t in spec.types)
        return Verdict(
            PlanError.INVALID_PLAN, f'{label} has type {argument.type}, expected {expected}'
        )
    if argument.type == ArgumentType.NUMBER:
        value = argument.number
        upper = spec.maximum
        robot = _robot_bound(skill, spec.name, config)
        if robot is not None:
            upper = min(upper, robot)
        if not math.isfinite(value) or not spec.minimum <= value <= upper:
            return Verdict(
                PlanError.ARGUMENT_OUT_OF_RANGE,
                f'{label} = {value} outside [{spec.minimum:g}, {upper:g}]',
            )
    elif argument.type == ArgumentType.TEXT:
        text = argument.text
        if not text.strip() or len(text) > spec.max_length:
            return Verdict(
                PlanError.INVALID_PLAN,
                f'{label}: text must be non-empty and at most {spec.max_length} characters',
            )
        if any(unicodedata.category(c) in _UNPRINTABLE for c in text):
            return Verdict(PlanError.INVALID_PLAN, f'{label}: control characters in text')
        if spec.choices and text not in spec.choices:
            return Verdict(
                PlanError.ARGUMENT_OUT_OF_RANGE,
                f'{label} = {text!r}, expected one of {spec.choices}',
            )
        if skill in (Skill.NAVIGATE_TO, Skill.DOCK, Skill.REROUTE) and not config.waypoint(text):
            known = [w.name for w in config.waypoints]
            return Verdict(
                PlanError.ARGUMENT_OUT_OF_RANGE,
                f'{label}: unknown waypoint {text!r}; known: {known}',
            )
    else:
        pose = argument.pose
        if pose is None or not all(math.isfinite(v) for v in (pose.x, pose.y, pose.yaw)):
            return Verdict(PlanError.ARGUMENT_OUT_OF_RANGE, f'{label}: pose missing or not finite')
        if not pose.frame_id.strip():
            return Verdict(PlanError.INVALID_PLAN, f'{label}: pose has no frame_id')
    return Verdict(PlanError.NONE, '')
