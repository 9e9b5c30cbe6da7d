"""From a procedure to a plan: its parameters grounded in the world and the situation.

SOP steps name what they need (``$nearest_charger``, ``$nearest_dock``, ``$obstacle``,
``$spill``, ``$device``, ``$camera``) and messages name fields (``{device}``, ``{battery_pct}``,
``{evidence}``, ...). Places come from the robot's map (the world file the simulator uses) and
must be waypoints the gate knows; areas to avoid come from where the evidence puts the obstacle
(a point in a Nav2 log line, else just ahead of the robot). Texts from the world enter messages
only quoted and bounded (:meth:`~muse_supervisor.reasoner.facts.EvidenceText.quoted`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from muse_supervisor.domain import SKILLS, ArgumentType, Skill, Tier
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step
from muse_supervisor.reasoner.sops import Sop, SopStep
from muse_supervisor.safety.plans import required_tier
from muse_supervisor.sim.world import Place, World

MESSAGE_LENGTH = 480  # below the vocabulary's 500 characters for a message


class GroundingError(ValueError):
    """A procedure that cannot be grounded here (no charger on the map, no pose, ...)."""


@dataclass(frozen=True)
class Ground:
    """What the grounding knows: world, pose, points of interest and message fields."""

    world: World | None
    pose: Pose2D | None
    known_waypoints: frozenset[str]
    obstacle: tuple[float, float] | None = None
    spill: tuple[float, float] | None = None
    device: str = ''
    camera: str = 'camera'
    fields: Mapping[str, str] | None = None

    def nearest(self, kind: str) -> Place:
        """The nearest place of ``kind`` (charger, dock) the gate also knows as a waypoint."""
        if self.world is None:
            raise GroundingError('no world (map) is loaded to find a place in')
        places = [p for p in self.world.places if p.kind == kind]
        usable = [p for p in places if p.name in self.known_waypoints]
        if not usable:
            raise GroundingError(
                f'no {kind} the gate knows: map has {[p.name for p in places]}, gate waypoints '
                f'{sorted(self.known_waypoints)}'
            )
        if self.pose is None:
            return usable[0]
        pose = self.pose
        return min(usable, key=lambda p: math.hypot(p.x - pose.x, p.y - pose.y))

    def facts(self) -> dict[str, bool]:
        """Facts the SOP conditions test that come from here."""
        return {
            'obstacle_known': self.obstacle is not None,
            'device_known': bool(self.device),
            'charger_known': self._has('charger'),
        }

    def _has(self, kind: str) -> bool:
        try:
            self.nearest(kind)
        except GroundingError:
            return False
        return True


def ground_plan(
    sop: Sop,
    ground: Ground,
    plan_id: str,
    incident_id: str,
    variant: Mapping[str, Any] | None = None,
    prefix: Sequence[SopStep] = (),
) -> Plan:
    """The procedure's steps (``prefix`` first) with every parameter filled in, as a plan.

    ``variant``: ``{"wait.seconds": 20}`` overrides for Thinking's alternatives.
    """
    steps = tuple(_step(step, ground, variant or {}) for step in (*prefix, *sop.steps))
    draft = Plan(plan_id, incident_id, steps, int(Tier.A), False)
    tier = required_tier(draft)
    return Plan(plan_id, incident_id, steps, int(tier), tier is Tier.C)


def _step(step: SopStep, ground: Ground, variant: Mapping[str, Any]) -> Step:
    name = SKILLS[step.skill].name
    arguments = []
    for spec in SKILLS[step.skill].arguments:
        if spec.name not in step.args:
            continue
        value = variant.get(f'{name}.{spec.name}', step.args[spec.name])
        arguments.append(_argument(spec.name, value, step.skill, ground))
    return Step(int(step.skill), tuple(arguments))


def _argument(name: str, value: Any, skill: Skill, ground: Ground) -> Argument:
    if isinstance(value, bool) or value is None:
        raise GroundingError(f'argument {name}: {value!r} is not a number or a text')
    if isinstance(value, (int, float)):
        return Argument(name, int(ArgumentType.NUMBER), number=float(value))
    text = str(value)
    if text.startswith('$'):
        return _reference(name, text[1:], ground)
    fields = dict(ground.fields or {})
    try:
        filled = text.format_map(_Fields(fields))
    except (ValueError, IndexError) as error:
        raise GroundingError(f'argument {name}: bad template {text!r} ({error})') from error
    return Argument(name, int(ArgumentType.TEXT), text=_bounded(filled))


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return f'<{key} unknown>'


def _bounded(text: str) -> str:
    flat = ' '.join(text.split())
    return flat if len(flat) <= MESSAGE_LENGTH else flat[: MESSAGE_LENGTH - 3] + '...'


def _reference(name: str, reference: str, ground: Ground) -> Argument:
    if reference in ('nearest_charger', 'nearest_dock'):
        place = ground.nearest(reference.removeprefix('nearest_'))
        return Argument(name, int(ArgumentType.TEXT), text=place.name)
    if reference in ('obstacle', 'spill'):
        point = ground.obstacle if reference == 'obstacle' else (ground.spill or ground.obstacle)
        if point is None:
            raise GroundingError(f'argument {name}: where the {reference} is is not known')
        frame = ground.world.frame_id if ground.world is not None else 'map'
        return Argument(name, int(ArgumentType.POSE), pose=PoseTarget(frame, *point, 0.0))
    if reference == 'device':
        if not ground.device:
            raise GroundingError(f'argument {name}: no device is named by the evidence')
        return Argument(name, int(ArgumentType.TEXT), text=ground.device)
    if reference == 'camera':
        return Argument(name, int(ArgumentType.TEXT), text=ground.camera)
    raise GroundingError(f'argument {name}: unknown reference ${reference}')
