"""An operator's new values for a proposed plan's arguments ("edit parameters" in the HMI).

An edit changes values only: the same skills in the same order, the same arguments, each keeping
its type (a number stays a number, a waypoint name a name; poses are not edited here). The edited
plan gets an id of its own (``<plan id>~e<n>``), hence a new digest, and is checked by the one
validator every plan passes (:func:`~muse_supervisor.reasoner.core.validate_candidate`: the
gate's own rules, the robot's limits, the invariants) before the reasoner simulates it again and
shows it first in a new proposal. The operator approves the edited plan like any other: by its
digest, at the gate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from muse_supervisor.domain import SKILLS, ArgumentType, Skill
from muse_supervisor.domain.plans import Argument, Plan
from muse_supervisor.reasoner.facts import printable

MAX_TEXT = 64  # characters of an edited text argument (a waypoint, a device, a camera)
EDIT_MARK = '~e'
EDITED_GENERATOR = 'operator/edit'  # the generator an edited plan is shown with


@dataclass(frozen=True)
class ArgumentEdit:
    """A new value for the argument ``name`` of step ``step`` (0-based)."""

    step: int
    name: str
    value: float | str


class EditError(ValueError):
    """An edit that cannot be applied; the message says what was wrong and what is expected."""


def edit_plan(plan: Plan, edits: Sequence[ArgumentEdit], serial: int) -> tuple[Plan, list[str]]:
    """``plan`` with ``edits`` applied under a new id, and what changed (for the rationale).

    ``serial`` numbers this plan's edits (the ``n`` of the new id). Raises :class:`EditError`
    for an empty edit, a step or argument the plan does not have, a value of the wrong type, or
    one that changes nothing.
    """
    if not edits:
        raise EditError('no edits: expected at least one (step, argument, value)')
    steps = list(plan.steps)
    changes: list[str] = []
    for edit in edits:
        if not 0 <= edit.step < len(steps):
            raise EditError(f'step {edit.step}: the plan has steps 0 to {len(steps) - 1}')
        step = steps[edit.step]
        skill = SKILLS[Skill(step.skill)].name
        old = step.argument(edit.name)
        if old is None:
            names = [a.name for a in step.arguments] or 'none'
            raise EditError(f'step {edit.step} ({skill}) has no argument {edit.name!r}; it has '
                            f'{names}')  # fmt: skip
        new = _value(old, edit, skill)
        if new == old:
            continue
        steps[edit.step] = replace(step, arguments=tuple(
            new if a.name == edit.name else a for a in step.arguments))  # fmt: skip
        changes.append(f'{skill}.{edit.name} {_shown(old)} -> {_shown(new)}')
    if not changes:
        raise EditError('the edits change nothing: every value is the one proposed')
    base = plan.id.split(EDIT_MARK)[0]
    return replace(plan, id=f'{base}{EDIT_MARK}{serial}', steps=tuple(steps)), changes


def _value(old: Argument, edit: ArgumentEdit, skill: str) -> Argument:
    where = f'step {edit.step} ({skill}) {edit.name}'
    if old.type == ArgumentType.NUMBER:
        if isinstance(edit.value, bool) or not isinstance(edit.value, (int, float)):
            raise EditError(f'{where}: expected a number, got {edit.value!r}')
        if not math.isfinite(edit.value):
            raise EditError(f'{where}: expected a finite number, got {edit.value!r}')
        return replace(old, number=float(edit.value))
    if old.type == ArgumentType.TEXT:
        if not isinstance(edit.value, str):
            raise EditError(f'{where}: expected text, got {edit.value!r}')
        text = ' '.join(printable(edit.value).split())
        if not text or len(text) > MAX_TEXT:
            raise EditError(f'{where}: expected 1 to {MAX_TEXT} printable characters')
        return replace(old, text=text)
    raise EditError(f'{where}: only numbers and names can be edited here, not poses')


def _shown(argument: Argument) -> str:
    return f'{argument.number:g}' if argument.type == ArgumentType.NUMBER else repr(argument.text)
