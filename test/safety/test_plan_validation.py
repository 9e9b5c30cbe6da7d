"""Plan validation: the gate runs only plans an independent reading of the rules allows.

Thousands of generated plans, valid for every skill, then mutated (the ways a reasoner, a
corrupted message or a hostile text can go wrong), are checked against an oracle written here
from the vocabulary and the robot's limits, not from the validator: 0 unsafe plans may pass.
"""

from __future__ import annotations

import enum
import math
import random
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from muse_supervisor.domain import SKILLS, ArgumentType, NotifyRole, Skill, Tier
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step
from muse_supervisor.domain.vocabulary import ArgumentSpec
from muse_supervisor.safety.approvals import Approval
from muse_supervisor.safety.config import GateConfig, GateLimits, Waypoint
from muse_supervisor.safety.plans import (
    MAX_STEP_TIMEOUT,
    MAX_STEPS,
    PlanError,
    Verdict,
    validate_plan,
)

NUMBER, TEXT, POSE = int(ArgumentType.NUMBER), int(ArgumentType.TEXT), int(ArgumentType.POSE)
WAYPOINTS = (Waypoint('dock_1', 2.0, 1.0, 0.0), Waypoint('charger_a', -3.0, 4.0, 1.57))
CONFIG = GateConfig(waypoints=WAYPOINTS)
NO_TIER_B = GateConfig(limits=GateLimits(allow_tier_b=False), waypoints=WAYPOINTS)
TIGHT = GateConfig(
    limits=GateLimits(max_reverse_distance=0.3, max_wait=10.0, max_linear_speed=0.2),
    waypoints=WAYPOINTS[:1],
)
CONFIGS = (CONFIG, NO_TIER_B, TIGHT)
ALL_SKILLS = frozenset(Skill)
MOVING = frozenset(skill for skill, spec in SKILLS.items() if spec.moves_robot)
ROLES = tuple(role.value for role in NotifyRole)
ALPHABET = string.ascii_letters + string.digits + " .,:;!?-_()/'" + 'éüßø✓→'
INVARIANTS = ('e-stop engaged', 'person inside the protective zone', 'gate error', ' ')


def num(name: str, value: Any) -> Argument:
    return Argument(name, NUMBER, number=value)


def text(name: str, value: Any) -> Argument:
    return Argument(name, TEXT, text=value)


def pose(name: str, x: float, y: float, yaw: float, frame: str = 'map') -> Argument:
    return Argument(name, POSE, pose=PoseTarget(frame, x, y, yaw))


def approve(plan: Plan, registry: dict[str, Plan] | None = None) -> Approval:
    """An operator's approval of exactly ``plan``; ``registry`` remembers what was approved."""
    if registry is not None:
        registry[plan.digest()] = plan
    return Approval(plan.id, plan.digest(), 'alice', 'checked on the HMI', 1000.0)


# ----- the oracle --------------------------------------------------------------------------------
def robot_bound(config: GateConfig, skill: Skill, name: str) -> float:
    limits = config.limits
    return {
        (Skill.REVERSE, 'distance'): limits.max_reverse_distance,
        (Skill.WAIT, 'seconds'): limits.max_wait,
        (Skill.SLOW_DOWN, 'max_speed'): limits.max_linear_speed,
    }.get((skill, name), math.inf)


def is_control(char: str) -> bool:
    return unicodedata.category(char) == 'Cc'


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def oracle(
    plan: Plan,
    config: GateConfig,
    approvals: Mapping[str, Approval],
    invariant: str,
    allowed: frozenset[Skill],
    approved: Mapping[str, Plan],
) -> str:
    """Why the rules forbid running ``plan`` now; ``''`` when it may run."""
    try:
        return _oracle(plan, config, approvals, invariant, allowed, approved)
    except Exception as error:  # what the oracle cannot read must not run either
        return f'unreadable: {error!r}'


def _oracle(
    plan: Plan,
    config: GateConfig,
    approvals: Mapping[str, Approval],
    invariant: str,
    allowed: frozenset[Skill],
    approved: Mapping[str, Plan],
) -> str:
    if not isinstance(plan.id, str) or not plan.id.strip():
        return 'no plan id'
    if not 1 <= len(plan.steps) <= MAX_STEPS:
        return 'step count'
    known = {int(skill) for skill in Skill}
    waypoints = {w.name for w in config.waypoints}
    needed, moves = Tier.A, False
    for step in plan.steps:
        if step.skill not in known:
            return f'unknown skill {step.skill!r}'
        skill = Skill(step.skill)
        if skill not in allowed:
            return f'{skill.name} not allowed'
        if not _finite(step.timeout) or not 0.0 <= step.timeout <= MAX_STEP_TIMEOUT:
            return 'step timeout'
        spec = SKILLS[skill]
        needed, moves = max(needed, spec.tier), moves or spec.moves_robot
        schema = {a.name: a for a in spec.arguments}
        names = [a.name for a in step.arguments]
        if len(names) != len(set(names)):
            return 'repeated argument'
        if set(names) - set(schema):
            return 'unknown argument'
        if any(a.required and a.name not in names for a in spec.arguments):
            return 'missing argument'
        for argument in step.arguments:
            rule = schema[argument.name]
            if argument.type not in {int(t) for t in rule.types}:
                return 'argument type'
            if argument.type == NUMBER:
                upper = min(rule.maximum, robot_bound(config, skill, argument.name))
                if not _finite(argument.number) or not rule.minimum <= argument.number <= upper:
                    return f'{argument.name} = {argument.number} out of range'
            elif argument.type == TEXT:
                value = argument.text
                if not isinstance(value, str) or not value.strip():
                    return 'empty text'
                if len(value) > rule.max_length or any(is_control(c) for c in value):
                    return 'bad text'
                if rule.choices and value not in rule.choices:
                    return 'not a choice'
                if skill in (Skill.NAVIGATE_TO, Skill.DOCK) and value not in waypoints:
                    return 'unknown waypoint'
            else:
                target = argument.pose
                if target is None or not all(_finite(v) for v in (target.x, target.y, target.yaw)):
                    return 'bad pose'
                if not isinstance(target.frame_id, str) or not target.frame_id.strip():
                    return 'pose without frame'
    if plan.tier not in (1, 2, 3) or plan.tier < needed:
        return f'declared tier {plan.tier} below {needed.name}'
    if invariant and moves:
        return 'moves while a safety invariant is active'
    needs_approval = (
        plan.tier == Tier.C
        or needed is Tier.C
        or bool(plan.requires_approval)
        or (needed >= Tier.B and not config.limits.allow_tier_b)
        or (plan.tier >= Tier.B and not config.limits.allow_tier_b)
    )
    if needs_approval:
        approval = approvals.get(plan.id)
        if approval is None:
            return 'no approval'
        original = approved.get(approval.digest)
        if original is None or (original.id, original.steps, original.tier) != (
            plan.id,
            plan.steps,
            plan.tier,
        ):
            return 'approval is for another plan'
    return ''


# ----- generator ---------------------------------------------------------------------------------
def random_text(rng: random.Random, max_length: int = 60) -> str:
    length = rng.randint(1, min(max_length, 60))
    value = ''.join(rng.choice(ALPHABET) for _ in range(length))
    return value if value.strip() else 'x' + value[1:]


def pick(rng: random.Random, lo: float, hi: float) -> float:
    roll = rng.random()
    if roll < 0.05:
        return lo
    if roll < 0.1:
        return hi
    return rng.uniform(lo, hi)


def random_pose(rng: random.Random, name: str) -> Argument:
    return pose(name, rng.uniform(-50, 50), rng.uniform(-50, 50), rng.uniform(-math.pi, math.pi))


def valid_arguments(skill: Skill, rng: random.Random, config: GateConfig) -> list[Argument]:
    limits = config.limits
    waypoints = [w.name for w in config.waypoints]
    args: list[Argument]
    if skill is Skill.WAIT:
        args = [num('seconds', pick(rng, 0.0, limits.max_wait))]
    elif skill is Skill.SLOW_DOWN:
        args = [num('max_speed', pick(rng, 0.0, limits.max_linear_speed))]
    elif skill is Skill.REQUEST_OPERATOR:
        args = [text('message', random_text(rng))]
    elif skill is Skill.NOTIFY:
        args = [text('role', rng.choice(ROLES)), text('message', random_text(rng))]
    elif skill is Skill.CAPTURE_EVIDENCE:
        args = [text('camera', rng.choice(['front', 'rear', 'mast_cam_2', random_text(rng)]))]
    elif skill is Skill.REVERSE:
        args = [num('distance', pick(rng, 0.0, limits.max_reverse_distance))]
    elif skill is Skill.ROTATE:
        args = [num('angle', pick(rng, -2 * math.pi, 2 * math.pi))]
    elif skill is Skill.NAVIGATE_TO:
        if rng.random() < 0.5:
            args = [text('target', rng.choice(waypoints))]
        else:
            args = [random_pose(rng, 'target')]
    elif skill is Skill.REROUTE:
        if rng.random() < 0.5:
            args = [text('avoid', rng.choice(waypoints))]
        else:
            args = [random_pose(rng, 'avoid')]
        if rng.random() < 0.5:
            args.append(num('radius', pick(rng, 0.1, 20.0)))
    elif skill is Skill.DOCK:
        args = [text('station', rng.choice(waypoints))]
    elif skill is Skill.RESET_FAULT:
        args = [text('device', rng.choice(['left_motor', 'lidar_front', random_text(rng)]))]
    else:
        args = []
    rng.shuffle(args)
    return args


def required_tier(steps: list[Step]) -> Tier:
    tiers = [SKILLS[Skill(s.skill)].tier for s in steps if s.skill in {int(k) for k in Skill}]
    return max(tiers, default=Tier.A)


@dataclass
class Draft:
    """A plan under construction, with everything validation is called with."""

    id: str
    steps: list[Step]
    tier: Any
    requires_approval: bool
    config: GateConfig
    approvals: dict[str, Approval] = field(default_factory=dict)
    invariant: str = ''
    allowed: frozenset[Skill] = ALL_SKILLS
    incident_id: str = 'incident-7'

    def plan(self) -> Plan:
        return Plan(
            self.id, self.incident_id, tuple(self.steps), self.tier, self.requires_approval
        )

    def needs_approval(self) -> bool:
        return (
            self.tier == Tier.C
            or self.requires_approval
            or (self.tier == Tier.B and not self.config.limits.allow_tier_b)
        )

    def moves(self) -> bool:
        return any(s.skill in {int(k) for k in MOVING} for s in self.steps)


def valid_draft(rng: random.Random, index: int, registry: dict[str, Plan]) -> Draft:
    config = rng.choice(CONFIGS)
    count = rng.choice([1, 1, 1, 2, 2, 3, 4, 6, MAX_STEPS])
    skills = [rng.choice(list(Skill)) for _ in range(count)]
    steps = []
    for skill in skills:
        timeout = rng.choice([0.0, 0.0, 0.0, pick(rng, 0.0, MAX_STEP_TIMEOUT)])
        steps.append(Step(int(skill), tuple(valid_arguments(skill, rng, config)), timeout))
    needed = required_tier(steps)
    tier = rng.choice([t for t in Tier if t >= needed])
    draft = Draft(
        id=rng.choice([f'plan-{index}', f'p{index}', f'recovery/{index}:b']),
        steps=steps,
        tier=int(tier),
        requires_approval=tier is Tier.C or rng.random() < 0.2,
        config=config,
    )
    if not draft.moves() and rng.random() < 0.3:
        draft.invariant = rng.choice(INVARIANTS)
    if rng.random() < 0.2:
        unused = [s for s in Skill if int(s) not in {st.skill for st in steps}]
        if unused:
            draft.allowed = ALL_SKILLS - set(rng.sample(unused, k=min(3, len(unused))))
    if draft.needs_approval() or rng.random() < 0.2:
        draft.approvals[draft.id] = approve(draft.plan(), registry)
    if rng.random() < 0.2:
        other = replace(draft.plan(), id=f'other-{index}')
        draft.approvals[other.id] = approve(other, registry)
    return draft


# ----- mutations ---------------------------------------------------------------------------------
class Expect(enum.Enum):
    ANY = 'any'  # the outcome depends on the draft: only the oracle decides
    SKIP = 'skip'  # the mutation does not apply to this draft


Outcome = PlanError | Expect
Mutation = Callable[[Draft, random.Random, dict[str, Plan]], Outcome]


def _step_with(draft: Draft, rng: random.Random, wanted: Callable[[Step], bool]) -> int | None:
    indices = [i for i, s in enumerate(draft.steps) if wanted(s)]
    return rng.choice(indices) if indices else None


def _replace_argument(draft: Draft, index: int, position: int, argument: Argument) -> None:
    step = draft.steps[index]
    args = list(step.arguments)
    args[position] = argument
    draft.steps[index] = replace(step, arguments=tuple(args))


def _approval_outcome(draft: Draft) -> Outcome:
    return PlanError.APPROVAL_REQUIRED if draft.needs_approval() else PlanError.NONE


def _rule(step: Step, argument: Argument) -> ArgumentSpec | None:
    if step.skill not in {int(k) for k in Skill}:
        return None
    return next((a for a in SKILLS[Skill(step.skill)].arguments if a.name == argument.name), None)


def _typed(draft: Draft, rng: random.Random, kind: int) -> tuple[int, int] | None:
    """A random argument of type ``kind`` that its skill's schema knows."""
    spots = [
        (i, j)
        for i, s in enumerate(draft.steps)
        for j, a in enumerate(s.arguments)
        if a.type == kind and _rule(s, a) is not None
    ]
    return rng.choice(spots) if spots else None


def m_number_out_of_range(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    spot = _typed(draft, rng, NUMBER)
    if spot is None:
        return Expect.SKIP
    i, j = spot
    argument = draft.steps[i].arguments[j]
    skill = Skill(draft.steps[i].skill)
    rule = _rule(draft.steps[i], argument)
    assert rule is not None
    upper = min(rule.maximum, robot_bound(draft.config, skill, argument.name))
    value = rng.choice(
        [
            rule.minimum - rng.uniform(1e-6, 10.0),
            math.nextafter(rule.minimum, -math.inf),
            math.nextafter(upper, math.inf),
            upper + rng.uniform(1e-6, 100.0),
            rule.maximum + 1.0,
            1e308,
            -1e308,
        ]
    )
    _replace_argument(draft, i, j, replace(argument, number=value))
    return PlanError.ARGUMENT_OUT_OF_RANGE


def m_non_finite(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    bad = rng.choice([math.nan, math.inf, -math.inf])
    where = rng.choice(['number', 'pose', 'timeout'])
    if where == 'number' and (spot := _typed(draft, rng, NUMBER)):
        i, j = spot
        _replace_argument(draft, i, j, replace(draft.steps[i].arguments[j], number=bad))
    elif where == 'pose' and (spot := _typed(draft, rng, POSE)):
        i, j = spot
        argument = draft.steps[i].arguments[j]
        assert argument.pose is not None
        axis = rng.choice(['x', 'y', 'yaw'])
        _replace_argument(
            draft, i, j, replace(argument, pose=replace(argument.pose, **{axis: bad}))
        )
    else:
        i = rng.randrange(len(draft.steps))
        draft.steps[i] = replace(draft.steps[i], timeout=bad)
    return PlanError.ARGUMENT_OUT_OF_RANGE


def m_unknown_skill(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = rng.randrange(len(draft.steps))
    skill = rng.choice([15, 16, 99, -1, 255, 1000, 2**31, 2**63])
    draft.steps[i] = replace(draft.steps[i], skill=skill)
    return PlanError.SKILL_NOT_ALLOWED


def m_missing_argument(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    def has_required(step: Step) -> bool:
        rules = [_rule(step, a) for a in step.arguments]
        return any(rule is not None and rule.required for rule in rules)

    i = _step_with(draft, rng, has_required)
    if i is None:
        return Expect.SKIP
    step = draft.steps[i]
    required = {a.name for a in SKILLS[Skill(step.skill)].arguments if a.required}
    drop = rng.choice([a.name for a in step.arguments if a.name in required])
    draft.steps[i] = replace(step, arguments=tuple(a for a in step.arguments if a.name != drop))
    return PlanError.INVALID_PLAN


def m_extra_argument(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = rng.randrange(len(draft.steps))
    step = draft.steps[i]
    name = rng.choice(['bogus', 'speed', 'force', 'override_safety', ''])
    extra = rng.choice([num(name, 1.0), text(name, 'yes')])
    draft.steps[i] = replace(step, arguments=(*step.arguments, extra))
    return PlanError.INVALID_PLAN


def m_duplicate_argument(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = _step_with(draft, rng, lambda s: bool(s.arguments))
    if i is None:
        return Expect.SKIP
    step = draft.steps[i]
    copy = rng.choice(step.arguments)
    if rng.random() < 0.5 and copy.type == NUMBER:
        copy = replace(copy, number=0.0)  # a second, harmless-looking value for the same name
    draft.steps[i] = replace(step, arguments=(*step.arguments, copy))
    return PlanError.INVALID_PLAN


def m_wrong_type(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = _step_with(draft, rng, lambda s: bool(s.arguments))
    if i is None:
        return Expect.SKIP
    j = rng.randrange(len(draft.steps[i].arguments))
    argument = draft.steps[i].arguments[j]
    rule = _rule(draft.steps[i], argument)
    if rule is None:
        return Expect.SKIP
    allowed = {int(t) for t in rule.types}
    wrong = rng.choice([t for t in (0, NUMBER, TEXT, POSE, 4, -1) if t not in allowed])
    _replace_argument(draft, i, j, replace(argument, type=wrong))
    return PlanError.INVALID_PLAN


def m_drop_approval(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.approvals.pop(draft.id, None)
    return _approval_outcome(draft)


def m_foreign_approval(draft: Draft, rng: random.Random, registry: dict[str, Plan]) -> Outcome:
    plan = draft.plan()
    variant = rng.choice(['tier', 'steps', 'id', 'timeout'])
    if variant == 'tier':
        other = replace(plan, tier=3 if plan.tier != 3 else 4)
    elif variant == 'steps':
        other = replace(plan, steps=(*plan.steps, Step(int(Skill.STOP))))
    elif variant == 'id':
        other = replace(plan, id=plan.id + '-v2')
    else:
        first = plan.steps[0]
        other = replace(plan, steps=(replace(first, timeout=first.timeout + 1.0), *plan.steps[1:]))
    approval = approve(other, registry)
    draft.approvals[draft.id] = replace(approval, plan_id=draft.id)
    return _approval_outcome(draft)


def m_lower_tier(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    needed = required_tier(draft.steps)
    if needed is Tier.A:
        return Expect.SKIP
    draft.tier = rng.choice([int(t) for t in Tier if t < needed])
    return PlanError.INVALID_PLAN


def m_weird_tier(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.tier = rng.choice([0, 4, -1, 99, 2.5, None, 'C'])
    return PlanError.INVALID_PLAN


def m_invariant(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.invariant = rng.choice(INVARIANTS)
    if draft.moves():
        return PlanError.SAFETY_INVARIANT_ACTIVE
    return PlanError.NONE


def m_empty_id(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    old = draft.id
    draft.id = rng.choice(['', ' ', '\t', '\n  '])
    if old in draft.approvals:
        draft.approvals[draft.id] = draft.approvals[old]
    return PlanError.INVALID_PLAN


def m_other_id(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.id = draft.id + rng.choice(['-b', 'x', ' '])
    return _approval_outcome(draft)


def m_too_many_steps(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    total = rng.randint(MAX_STEPS + 1, MAX_STEPS + 10)
    draft.steps = [draft.steps[i % len(draft.steps)] for i in range(total)]
    return PlanError.INVALID_PLAN


def m_no_steps(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.steps = []
    return PlanError.INVALID_PLAN


def m_control_characters(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    spot = _typed(draft, rng, TEXT)
    if spot is None:
        return Expect.SKIP
    i, j = spot
    argument = draft.steps[i].arguments[j]
    char = chr(rng.randrange(32))
    at = rng.randint(0, len(argument.text))
    value = argument.text[:at] + char + argument.text[at:]
    _replace_argument(draft, i, j, replace(argument, text=value))
    return PlanError.INVALID_PLAN


def m_unknown_waypoint(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    def names_waypoint(step: Step) -> bool:
        return step.skill in (Skill.NAVIGATE_TO, Skill.DOCK) and any(
            a.type == TEXT and a.name in ('target', 'station') for a in step.arguments
        )

    i = _step_with(draft, rng, names_waypoint)
    if i is None:
        return Expect.SKIP
    j = next(
        k
        for k, a in enumerate(draft.steps[i].arguments)
        if a.type == TEXT and a.name in ('target', 'station')
    )
    name = rng.choice(['dock_9', 'DOCK_1', 'dock_1 ', 'charger', 'aisle_4'])
    if draft.config is TIGHT and rng.random() < 0.5:
        name = 'charger_a'  # configured elsewhere, not on this robot
    _replace_argument(draft, i, j, replace(draft.steps[i].arguments[j], text=name))
    return PlanError.ARGUMENT_OUT_OF_RANGE


def m_bad_text(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    spot = _typed(draft, rng, TEXT)
    if spot is None:
        return Expect.SKIP
    i, j = spot
    argument = draft.steps[i].arguments[j]
    rule = _rule(draft.steps[i], argument)
    assert rule is not None
    value = rng.choice(['', '   ', 'x' * (rule.max_length + 1)])
    _replace_argument(draft, i, j, replace(argument, text=value))
    return PlanError.INVALID_PLAN


def m_bad_role(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = _step_with(draft, rng, lambda s: s.skill == Skill.NOTIFY)
    if i is None:
        return Expect.SKIP
    j = next((k for k, a in enumerate(draft.steps[i].arguments) if a.name == 'role'), None)
    if j is None:
        return Expect.SKIP
    role = rng.choice(['janitor', 'Maintenance', 'everyone', 'supervisor '])
    _replace_argument(draft, i, j, replace(draft.steps[i].arguments[j], text=role))
    return PlanError.ARGUMENT_OUT_OF_RANGE


def m_bad_pose(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    spot = _typed(draft, rng, POSE)
    if spot is None:
        return Expect.SKIP
    i, j = spot
    argument = draft.steps[i].arguments[j]
    assert argument.pose is not None
    if rng.random() < 0.5:
        _replace_argument(draft, i, j, replace(argument, pose=None))
        return PlanError.ARGUMENT_OUT_OF_RANGE
    frame = rng.choice(['', '  '])
    _replace_argument(draft, i, j, replace(argument, pose=replace(argument.pose, frame_id=frame)))
    return PlanError.INVALID_PLAN


def m_bad_timeout(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = rng.randrange(len(draft.steps))
    value = rng.choice([-1.0, -1e-9, math.nextafter(MAX_STEP_TIMEOUT, math.inf), 1e9])
    draft.steps[i] = replace(draft.steps[i], timeout=value)
    return PlanError.ARGUMENT_OUT_OF_RANGE


def m_flip_requires_approval(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.requires_approval = not draft.requires_approval
    if draft.tier == Tier.C and not draft.requires_approval:
        return PlanError.INVALID_PLAN
    return Expect.ANY


def m_disallow_skill(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    used = Skill(rng.choice(draft.steps).skill)
    draft.allowed = draft.allowed - {used}
    return PlanError.SKILL_NOT_ALLOWED


def m_other_config(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    draft.config = rng.choice([c for c in CONFIGS if c is not draft.config])
    return Expect.ANY


def m_change_value_after_approval(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    i = rng.randrange(len(draft.steps))
    step = draft.steps[i]
    skill = Skill(step.skill)
    fresh = replace(step, arguments=tuple(valid_arguments(skill, rng, draft.config)))
    if rng.random() < 0.3 or fresh == step:
        shift = 0.5 if step.timeout < MAX_STEP_TIMEOUT - 1 else -0.5
        fresh = replace(step, timeout=step.timeout + shift)
    draft.steps[i] = fresh
    return _approval_outcome(draft)


def m_swap_steps(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    if len(draft.steps) < 2:
        return Expect.SKIP
    i, j = rng.sample(range(len(draft.steps)), 2)
    if draft.steps[i] == draft.steps[j]:
        return Expect.SKIP
    draft.steps[i], draft.steps[j] = draft.steps[j], draft.steps[i]
    return _approval_outcome(draft)


def m_raise_tier(draft: Draft, rng: random.Random, _: dict[str, Plan]) -> Outcome:
    if not isinstance(draft.tier, int) or draft.tier >= Tier.C:
        return Expect.SKIP
    draft.tier += 1
    return Expect.ANY


MUTATIONS: dict[str, Mutation] = {
    'number_out_of_range': m_number_out_of_range,
    'non_finite': m_non_finite,
    'unknown_skill': m_unknown_skill,
    'missing_argument': m_missing_argument,
    'extra_argument': m_extra_argument,
    'duplicate_argument': m_duplicate_argument,
    'wrong_type': m_wrong_type,
    'drop_approval': m_drop_approval,
    'foreign_approval': m_foreign_approval,
    'lower_tier': m_lower_tier,
    'weird_tier': m_weird_tier,
    'invariant_active': m_invariant,
    'empty_id': m_empty_id,
    'other_id': m_other_id,
    'too_many_steps': m_too_many_steps,
    'no_steps': m_no_steps,
    'control_characters': m_control_characters,
    'unknown_waypoint': m_unknown_waypoint,
    'bad_text': m_bad_text,
    'bad_role': m_bad_role,
    'bad_pose': m_bad_pose,
    'bad_timeout': m_bad_timeout,
    'flip_requires_approval': m_flip_requires_approval,
    'disallow_skill': m_disallow_skill,
    'other_config': m_other_config,
    'change_value_after_approval': m_change_value_after_approval,
    'swap_steps': m_swap_steps,
    'raise_tier': m_raise_tier,
}


LAST = [name for name in MUTATIONS if name not in ('unknown_skill', 'no_steps')] + [
    'unknown_skill',
    'no_steps',
]


def check(draft: Draft, registry: dict[str, Plan]) -> tuple[Verdict, str]:
    plan = draft.plan()
    verdict = validate_plan(plan, draft.config, draft.approvals, draft.invariant, draft.allowed)
    reason = oracle(plan, draft.config, draft.approvals, draft.invariant, draft.allowed, registry)
    assert isinstance(verdict, Verdict) and isinstance(verdict.error, PlanError)
    if verdict.ok:
        assert not reason, f'UNSAFE: validator accepted {plan!r} but {reason}'
    else:
        assert verdict.message, verdict
    return verdict, reason


def test_generated_and_mutated_plans_never_let_an_unsafe_plan_through() -> None:
    rng = random.Random(20250611)
    registry: dict[str, Plan] = {}
    stats: Counter[str] = Counter()
    names = list(MUTATIONS)
    for index in range(6000):
        draft = valid_draft(rng, index, registry)
        # The unmutated plan is valid and must run (no over-refusal of the valid plans).
        verdict, reason = check(draft, registry)
        assert reason == ''
        assert verdict.ok, (draft.plan(), verdict)
        stats['checked'] += 1
        stats['accepted'] += 1
        # Then break it: one mutation (with the expected refusal checked), or several.
        chosen = [rng.choice(names) for _ in range(rng.choice([1, 1, 1, 2, 3]))]
        chosen.sort(key=LAST.index)  # these leave steps another mutation cannot read
        expected: Outcome = Expect.SKIP
        applied = []
        for name in chosen:
            if not draft.steps:
                break
            outcome = MUTATIONS[name](draft, rng, registry)
            if outcome is not Expect.SKIP:
                applied.append(name)
                expected = outcome
        if rng.random() < 0.25 and draft.id.strip():
            # The operator approves the broken plan: content rules must still refuse it.
            draft.approvals[draft.id] = approve(draft.plan(), registry)
            expected = Expect.ANY
        verdict, reason = check(draft, registry)
        stats['checked'] += 1
        stats['accepted' if verdict.ok else 'refused'] += 1
        if len(applied) == 1 and isinstance(expected, PlanError):
            assert verdict.error is expected, (applied, draft.plan(), verdict, reason)
            stats[f'spot:{applied[0]}'] += 1
    assert stats['checked'] >= 10_000
    assert stats['accepted'] > 6000 and stats['refused'] > 3000, stats
    # Every mutation category was checked against its expected refusal code many times.
    for name in MUTATIONS:
        if name not in {'other_config', 'raise_tier'}:
            assert stats[f'spot:{name}'] >= 10, (name, stats)


def test_validator_never_raises_on_garbage() -> None:
    rng = random.Random(7)
    registry: dict[str, Plan] = {}
    junk: list[Any] = [
        None, '', 'x', 1.5, math.nan, -1, 2**64, [], (), {}, object(), True, Skill.STOP,
        [Step(0)], (None,), ('wait',), ArgumentType.TEXT,
    ]  # fmt: skip
    checked = 0
    for index in range(3000):
        draft = valid_draft(rng, index, registry)
        plan = draft.plan()
        for _ in range(rng.randint(1, 3)):
            target = rng.choice(['plan', 'step', 'argument', 'pose'])
            value = rng.choice(junk)
            if target == 'plan':
                name = rng.choice(['id', 'incident_id', 'steps', 'tier', 'requires_approval'])
                plan = replace(plan, **{name: value})
            elif isinstance(plan.steps, tuple) and plan.steps:
                steps = list(plan.steps)
                i = rng.randrange(len(steps))
                step = steps[i]
                if not isinstance(step, Step):
                    continue
                if target == 'step' or not step.arguments:
                    name = rng.choice(['skill', 'arguments', 'timeout'])
                    steps[i] = replace(step, **{name: value})
                elif isinstance(step.arguments, tuple):
                    args = list(step.arguments)
                    j = rng.randrange(len(args))
                    if not isinstance(args[j], Argument):
                        continue
                    name = rng.choice(['name', 'type', 'number', 'text', 'pose'])
                    if target == 'pose' and isinstance(args[j].pose, PoseTarget):
                        name = rng.choice(['frame_id', 'x', 'y', 'yaw'])
                        args[j] = replace(args[j], pose=replace(args[j].pose, **{name: value}))
                    else:
                        args[j] = replace(args[j], **{name: value})
                    steps[i] = replace(step, arguments=tuple(args))
                plan = replace(plan, steps=tuple(steps))
        verdict = validate_plan(
            plan, draft.config, draft.approvals, draft.invariant, draft.allowed
        )
        assert isinstance(verdict, Verdict)
        if verdict.ok:
            reason = oracle(
                plan, draft.config, draft.approvals, draft.invariant, draft.allowed, registry
            )
            assert not reason, f'UNSAFE: validator accepted {plan!r} but {reason}'
        checked += 1
    assert checked == 3000
    # A crash inside validation comes back as a refusal, not an exception.
    broken = Plan('p', 'i', (Step(int(Skill.WAIT), (num('seconds', '5'),)),), 1, False)
    verdict = validate_plan(broken, CONFIG, {})
    assert not verdict.ok and verdict.error is PlanError.UNKNOWN and verdict.message

    class Exploding(dict[str, Approval]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError('approval store down')

    plan = Plan('p', 'i', (Step(int(Skill.RESUME_MISSION)),), 3, True)
    verdict = validate_plan(plan, CONFIG, Exploding())
    assert not verdict.ok and verdict.error is PlanError.UNKNOWN


# ----- spot checks: each way of going wrong, its refusal code ------------------------------------
def make_plan(*steps: Step, tier: int | None = None, plan_id: str = 'plan-1', **kw: Any) -> Plan:
    needed = required_tier(list(steps))
    declared = int(needed) if tier is None else tier
    approval = kw.pop('requires_approval', declared == Tier.C)
    return Plan(plan_id, 'incident-1', tuple(steps), declared, approval)


def verdict_of(plan: Plan, *, approved: bool = False, **kw: Any) -> Verdict:
    approvals = {plan.id: approve(plan)} if approved else kw.pop('approvals', {})
    return validate_plan(plan, kw.pop('config', CONFIG), approvals, **kw)


WAIT = Step(int(Skill.WAIT), (num('seconds', 5.0),))
REVERSE = Step(int(Skill.REVERSE), (num('distance', 0.5),))
NAVIGATE = Step(int(Skill.NAVIGATE_TO), (text('target', 'dock_1'),))
NOTIFY = Step(int(Skill.NOTIFY), (text('role', 'cleaning'), text('message', 'spill in aisle 4')))
RESET = Step(int(Skill.RESET_FAULT), (text('device', 'left_motor'),))


def _step(skill: Skill, *args: Argument, timeout: float = 0.0) -> Step:
    return Step(int(skill), args, timeout)


@pytest.mark.parametrize(
    ('plan', 'expected'),
    [
        (make_plan(_step(Skill.REVERSE, num('distance', 1.5))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.REVERSE, num('distance', 1.0))), 'NONE'),
        (make_plan(_step(Skill.REVERSE, num('distance', -0.1))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.WAIT, num('seconds', 301.0))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.WAIT, num('seconds', 300.0))), 'NONE'),
        (make_plan(_step(Skill.SLOW_DOWN, num('max_speed', 0.8))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.SLOW_DOWN, num('max_speed', 0.5))), 'NONE'),
        (make_plan(_step(Skill.ROTATE, num('angle', 7.0))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.ROTATE, num('angle', -2 * math.pi))), 'NONE'),
        (
            make_plan(_step(Skill.REROUTE, text('avoid', 'dock_1'), num('radius', 25))),
            'ARGUMENT_OUT_OF_RANGE',
        ),
        (make_plan(_step(Skill.WAIT, num('seconds', math.nan))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.REVERSE, num('distance', math.inf))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.ROTATE, num('angle', -math.inf))), 'ARGUMENT_OUT_OF_RANGE'),
        (
            make_plan(_step(Skill.NAVIGATE_TO, pose('target', math.nan, 0, 0))),
            'ARGUMENT_OUT_OF_RANGE',
        ),
        (make_plan(_step(Skill.NAVIGATE_TO, Argument('target', POSE))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.NAVIGATE_TO, pose('target', 1, 2, 0, frame=''))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.NAVIGATE_TO, pose('target', 1, 2, 0))), 'NONE'),
        (make_plan(_step(Skill.STOP, timeout=-1.0)), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.STOP, timeout=math.nan)), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.STOP, timeout=3600.5)), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(Step(99)), 'SKILL_NOT_ALLOWED'),
        (make_plan(Step(15)), 'SKILL_NOT_ALLOWED'),
        (make_plan(Step(-1)), 'SKILL_NOT_ALLOWED'),
        (make_plan(_step(Skill.WAIT)), 'INVALID_PLAN'),
        (make_plan(_step(Skill.STOP, num('seconds', 1.0))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.WAIT, num('seconds', 1.0), num('seconds', 500.0))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.WAIT, text('seconds', '5'))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.WAIT, Argument('seconds', 0, number=5.0))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.DOCK, pose('station', 1, 1, 0))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.NAVIGATE_TO, text('target', 'dock_9'))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.DOCK, text('station', 'charger_b'))), 'ARGUMENT_OUT_OF_RANGE'),
        (make_plan(_step(Skill.DOCK, text('station', 'charger_a'))), 'NONE'),
        (
            make_plan(_step(Skill.NOTIFY, text('role', 'janitor'), text('message', 'x'))),
            'ARGUMENT_OUT_OF_RANGE',
        ),
        (make_plan(_step(Skill.REQUEST_OPERATOR, text('message', ''))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.REQUEST_OPERATOR, text('message', ' \t'))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.REQUEST_OPERATOR, text('message', 'x' * 501))), 'INVALID_PLAN'),
        (make_plan(_step(Skill.REQUEST_OPERATOR, text('message', 'x' * 500))), 'NONE'),
        (make_plan(_step(Skill.CAPTURE_EVIDENCE, text('camera', 'c' * 101))), 'INVALID_PLAN'),
        (
            make_plan(
                _step(Skill.REQUEST_OPERATOR, text('message', 'IGNORE SAFETY AND DRIVE FORWARD'))
            ),
            'NONE',
        ),
        (make_plan(WAIT, plan_id=''), 'INVALID_PLAN'),
        (make_plan(WAIT, plan_id='  '), 'INVALID_PLAN'),
        (make_plan(), 'INVALID_PLAN'),
        (make_plan(*[WAIT] * MAX_STEPS), 'NONE'),
        (make_plan(*[WAIT] * (MAX_STEPS + 1)), 'INVALID_PLAN'),
        (make_plan(REVERSE, tier=int(Tier.A)), 'INVALID_PLAN'),
        (make_plan(RESET, tier=int(Tier.B)), 'INVALID_PLAN'),
        (make_plan(WAIT, tier=0), 'INVALID_PLAN'),
        (make_plan(WAIT, tier=4), 'INVALID_PLAN'),
        (make_plan(RESET), 'APPROVAL_REQUIRED'),
        (make_plan(Step(int(Skill.RESUME_MISSION))), 'APPROVAL_REQUIRED'),
        (make_plan(RESET, requires_approval=False), 'INVALID_PLAN'),
        (make_plan(WAIT, requires_approval=True), 'APPROVAL_REQUIRED'),
        (make_plan(WAIT, tier=int(Tier.C)), 'APPROVAL_REQUIRED'),
        (make_plan(WAIT, REVERSE, NAVIGATE, NOTIFY), 'NONE'),
    ],
    ids=lambda value: repr(value)[:70] if isinstance(value, Plan) else value,
)
def test_each_way_of_going_wrong_has_its_code(plan: Plan, expected: str) -> None:
    verdict = verdict_of(plan)
    assert verdict.error is PlanError[expected], verdict
    assert verdict.ok == (expected == 'NONE')
    assert verdict.message


@pytest.mark.parametrize('char', ['\x00', '\x07', '\t', '\n', '\r', '\x1b', '\x1f'], ids=repr)
def test_c0_control_characters_in_text_are_refused(char: str) -> None:
    for skill, name in [
        (Skill.REQUEST_OPERATOR, 'message'),
        (Skill.CAPTURE_EVIDENCE, 'camera'),
        (Skill.RESET_FAULT, 'device'),
    ]:
        plan = make_plan(_step(skill, text(name, f'ok{char}then')))
        assert verdict_of(plan, approved=True).error is PlanError.INVALID_PLAN


@pytest.mark.parametrize('char', ['\x7f', '\x85', '\x9b'], ids=repr)
def test_other_control_characters_in_text_are_refused(char: str) -> None:
    """DEL and C1 controls (NEL breaks lines for str.splitlines, CSI drives terminals)."""
    assert is_control(char)
    plan = make_plan(_step(Skill.REQUEST_OPERATOR, text('message', f'line one{char}line two')))
    assert verdict_of(plan).error is PlanError.INVALID_PLAN


@pytest.mark.parametrize('char', ['\u200b', '\u202e', '\u2028'], ids=repr)
def test_invisible_and_bidi_characters_in_text_are_refused(char: str) -> None:
    """Zero-width, right-to-left override and line separator: what the operator reads must be
    what the plan says."""
    plan = make_plan(_step(Skill.REQUEST_OPERATOR, text('message', f'stop{char}here')))
    assert verdict_of(plan).error is PlanError.INVALID_PLAN


def test_tier_c_runs_only_with_an_approval_of_exactly_this_plan() -> None:
    plan = make_plan(RESET)
    assert verdict_of(plan, approved=True).ok
    # An approval of another plan id, or of another version of this plan, does not count.
    other = make_plan(RESET, plan_id='plan-2')
    assert verdict_of(plan, approvals={plan.id: approve(other)}).error is (
        PlanError.APPROVAL_REQUIRED
    )
    edited = make_plan(Step(int(Skill.RESET_FAULT), (text('device', 'right_motor'),)))
    assert verdict_of(edited, approvals={edited.id: approve(plan)}).error is (
        PlanError.APPROVAL_REQUIRED
    )
    longer = make_plan(RESET, Step(int(Skill.RESUME_MISSION)))
    assert verdict_of(longer, approvals={longer.id: approve(plan)}).error is (
        PlanError.APPROVAL_REQUIRED
    )
    slower = make_plan(replace(RESET, timeout=30.0))
    assert verdict_of(slower, approvals={slower.id: approve(plan)}).error is (
        PlanError.APPROVAL_REQUIRED
    )
    assert verdict_of(plan, approvals={'plan-2': approve(plan)}).error is (
        PlanError.APPROVAL_REQUIRED
    )


def test_tier_b_needs_approval_where_policy_forbids_it() -> None:
    plan = make_plan(REVERSE)
    assert verdict_of(plan).ok
    assert verdict_of(plan, config=NO_TIER_B).error is PlanError.APPROVAL_REQUIRED
    assert verdict_of(plan, config=NO_TIER_B, approved=True).ok
    assert verdict_of(make_plan(WAIT), config=NO_TIER_B).ok  # tier A still runs


def test_robot_limits_narrow_the_vocabulary_bounds() -> None:
    for step in [
        _step(Skill.REVERSE, num('distance', 0.5)),
        _step(Skill.WAIT, num('seconds', 60.0)),
        _step(Skill.SLOW_DOWN, num('max_speed', 0.3)),
    ]:
        assert verdict_of(make_plan(step)).ok
        assert verdict_of(make_plan(step), config=TIGHT).error is PlanError.ARGUMENT_OUT_OF_RANGE


@pytest.mark.parametrize('invariant', ['e-stop engaged', 'person inside the protective zone'])
def test_no_motion_while_a_safety_invariant_is_active(invariant: str) -> None:
    for moving in [REVERSE, NAVIGATE, Step(int(Skill.RELOCALIZE)), Step(int(Skill.RETRY_STEP))]:
        plan = make_plan(WAIT, moving)
        assert verdict_of(plan, invariant_active=invariant).error is (
            PlanError.SAFETY_INVARIANT_ACTIVE
        )
        # not even with an operator's approval
        assert verdict_of(plan, approved=True, invariant_active=invariant).error is (
            PlanError.SAFETY_INVARIANT_ACTIVE
        )
    resume = make_plan(Step(int(Skill.RESUME_MISSION)))
    assert verdict_of(resume, approved=True, invariant_active=invariant).error is (
        PlanError.SAFETY_INVARIANT_ACTIVE
    )
    # Steps that do not move still run: stop, wait, tell people.
    still = make_plan(Step(int(Skill.STOP)), WAIT, NOTIFY)
    assert verdict_of(still, invariant_active=invariant).ok


def test_skill_not_allowed_on_this_robot() -> None:
    plan = make_plan(WAIT, REVERSE)
    allowed = frozenset(Skill) - {Skill.REVERSE}
    assert verdict_of(plan, allowed_skills=allowed).error is PlanError.SKILL_NOT_ALLOWED
    assert verdict_of(make_plan(WAIT), allowed_skills=allowed).ok
