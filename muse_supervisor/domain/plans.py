"""Recovery plans as plain data, and the digest that binds an operator's approval to one plan.

A plan is what a reasoner proposes, the simulator predicts, an HMI shows and the safety gate
validates and executes; all of them use these types. The digest is computed from the plan's
content in a canonical form, so an HMI (in any language) can show the same value the gate
checks: an approval names the digest, and a plan re-published under the same id with other
steps no longer matches it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PoseTarget:
    """A pose argument: frame and planar position/heading."""

    frame_id: str
    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class Argument:
    """One typed skill argument; only the field named by ``type`` is meaningful."""

    name: str
    type: int
    number: float = 0.0
    text: str = ''
    pose: PoseTarget | None = None


@dataclass(frozen=True)
class Step:
    """A skill (``Skill`` value, possibly unknown when it came from outside) and its arguments."""

    skill: int
    arguments: tuple[Argument, ...] = ()
    timeout: float = 0.0

    def argument(self, name: str) -> Argument | None:
        """The argument called ``name``, if given."""
        return next((a for a in self.arguments if a.name == name), None)


@dataclass(frozen=True)
class Plan:
    """A recovery plan as submitted for execution."""

    id: str
    incident_id: str
    steps: tuple[Step, ...]
    tier: int
    requires_approval: bool

    def digest(self) -> str:
        """The plan's digest: see :func:`plan_digest`."""
        return plan_digest(self)


def plan_digest(plan: Plan) -> str:
    """SHA-256 (hex) of the plan's canonical JSON: everything that decides what the plan does.

    Canonical form: ``{"id", "incident_id", "tier", "requires_approval", "steps": [{"skill",
    "timeout", "arguments": [{"name", "type", "number", "text", "pose": null | {"frame_id",
    "x", "y", "yaw"}}]}]}``, keys sorted, separators ``,`` and ``:``, UTF-8 (no escapes),
    integers as integers, floats as the shortest decimal that reads back to the same double
    (non-finite ones as the strings ``"nan"``, ``"inf"``, ``"-inf"``). Rationale, confidence and
    other prose are left out: they do not change what the robot does. Values of the wrong type
    (a plan built in Python can hold anything) are encoded by their ``repr``, never coerced, so
    two different plans never share a digest.
    """
    canonical = {
        'id': plan.id,
        'incident_id': plan.incident_id,
        'tier': plan.tier,
        'requires_approval': plan.requires_approval,
        'steps': _items(plan.steps, _step_json),
    }
    text = json.dumps(
        canonical, sort_keys=True, separators=(',', ':'), ensure_ascii=False, default=repr
    )
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _items(values: Any, encode: Any) -> Any:
    return [encode(value) for value in values] if isinstance(values, tuple) else repr(values)


def _number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return 'nan' if math.isnan(value) else ('inf' if value > 0 else '-inf')
    return value if isinstance(value, (int, float)) else repr(value)


def _pose_json(pose: Any) -> Any:
    if pose is None:
        return None
    if not isinstance(pose, PoseTarget):
        return repr(pose)
    return {
        'frame_id': pose.frame_id,
        'x': _number(pose.x),
        'y': _number(pose.y),
        'yaw': _number(pose.yaw),
    }


def _argument_json(argument: Any) -> Any:
    if not isinstance(argument, Argument):
        return repr(argument)
    return {
        'name': argument.name,
        'type': argument.type,
        'number': _number(argument.number),
        'text': argument.text,
        'pose': _pose_json(argument.pose),
    }


def _step_json(step: Any) -> Any:
    if not isinstance(step, Step):
        return repr(step)
    return {
        'skill': step.skill,
        'timeout': _number(step.timeout),
        'arguments': _items(step.arguments, _argument_json),
    }
