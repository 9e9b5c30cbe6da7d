"""What an operator may ask of the stack through the HMI, checked before anything is sent.

The browser posts ``{"action", "robot", "incident_id", "plan_id", "plan_digest", "reason",
"assignee", "edits"}`` (``edits``, for ``edit`` only: a list of ``{"step", "name", "value"}``);
:func:`parse_action` turns it into an :class:`OperatorAction` or says what is wrong, and
:func:`check_action` refuses what the session's role or the HMI's own view does not allow (a
plan the HMI never showed, a digest other than the one it showed). The components check
again: the gate approves only plans it received, with the digest it holds; the incident keeper
moves an incident only as its lifecycle allows. The operator's name is the session's, never a
field of the request.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from muse_supervisor.hmi.accounts import Role
from muse_supervisor.hmi.fleet import FleetView

_DIGEST = re.compile(r'[0-9a-f]{64}')
MAX_REASON = 500
MAX_EDITS = 16


class ActionKind(enum.Enum):
    """The actions the HMI offers; all of them need the role ``operator``."""

    APPROVE = 'approve'
    REJECT = 'reject'
    EDIT = 'edit'  # new argument values: the reasoner validates and simulates the edited plan
    ACKNOWLEDGE = 'acknowledge'
    ASSIGN = 'assign'
    DISMISS = 'dismiss'
    HANDLED_ON_SITE = 'handled_on_site'
    RESET = 'reset'


# What each action needs besides ``robot``.
_NEEDS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.APPROVE: ('incident_id', 'plan_id', 'plan_digest'),
    ActionKind.REJECT: ('incident_id', 'plan_id', 'reason'),
    ActionKind.EDIT: ('incident_id', 'plan_id', 'plan_digest'),
    ActionKind.ACKNOWLEDGE: ('incident_id',),
    ActionKind.ASSIGN: ('incident_id', 'assignee'),
    ActionKind.DISMISS: ('incident_id', 'reason'),
    ActionKind.HANDLED_ON_SITE: ('incident_id',),
    ActionKind.RESET: ('reason',),
}
_FIELDS = ('action', 'robot', 'incident_id', 'plan_id', 'plan_digest', 'reason', 'assignee')
_ALL_FIELDS = (*_FIELDS, 'edits')


class ActionError(ValueError):
    """A request the HMI refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class OperatorAction:
    """One checked request; the actor is not in it (it is the session's account)."""

    kind: ActionKind
    robot: str
    incident_id: str = ''
    plan_id: str = ''
    plan_digest: str = ''
    reason: str = ''
    assignee: str = ''
    edits: tuple[PlanEdit, ...] = ()


@dataclass(frozen=True)
class PlanEdit:
    """A new value for argument ``name`` of step ``step`` (0-based) of the plan shown."""

    step: int
    name: str
    value: float | str

    def __str__(self) -> str:
        return f'step {self.step} {self.name}={self.value!r}'


def parse_action(body: Any) -> OperatorAction:
    """An :class:`OperatorAction` from a request body, or :class:`ActionError` saying why not."""
    if not isinstance(body, dict):
        raise ActionError(f'expected a JSON object with {list(_ALL_FIELDS)}')
    unknown = sorted(set(body) - set(_ALL_FIELDS))
    if unknown:
        raise ActionError(f'unknown field(s) {unknown}; expected some of {list(_ALL_FIELDS)}')
    edits = _edits(body.get('edits', []))
    values: dict[str, Any] = {}
    for name in _FIELDS:
        value = body.get(name, '')
        if not isinstance(value, str):
            raise ActionError(f'{name} must be a string, got {type(value).__name__}')
        values[name] = value.strip()
    try:
        kind = ActionKind(values['action'])
    except ValueError:
        raise ActionError(
            f'unknown action {values["action"]!r}; expected one of {[k.value for k in ActionKind]}'
        ) from None
    missing = [name for name in _NEEDS[kind] if not values[name]]
    if missing:
        raise ActionError(f'{kind.value} needs {", ".join(missing)}')
    if len(values['reason']) > MAX_REASON:
        raise ActionError(f'reason is longer than {MAX_REASON} characters')
    if kind in (ActionKind.APPROVE, ActionKind.EDIT) and not _DIGEST.fullmatch(
        values['plan_digest']
    ):
        raise ActionError('plan_digest must be the 64 hex digits of the plan shown')
    if (kind is ActionKind.EDIT) != bool(edits):
        raise ActionError('edits: expected at least one for edit, and none for other actions')
    del values['action']
    return OperatorAction(kind, **values, edits=edits)


def _edits(value: Any) -> tuple[PlanEdit, ...]:
    if not isinstance(value, list) or len(value) > MAX_EDITS:
        raise ActionError(f'edits must be a list of at most {MAX_EDITS} '
                          '{"step", "name", "value"} objects')  # fmt: skip
    edits = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or set(entry) != {'step', 'name', 'value'}:
            raise ActionError(f'edits[{index}]: expected an object with step, name and value')
        step, name, new = entry['step'], entry['name'], entry['value']
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ActionError(f'edits[{index}].step: expected a step index >= 0, got {step!r}')
        if not isinstance(name, str) or not name.strip():
            raise ActionError(f'edits[{index}].name: expected an argument name')
        if isinstance(new, bool) or not isinstance(new, (int, float, str)):
            raise ActionError(f'edits[{index}].value: expected a number or text, got {new!r}')
        edits.append(PlanEdit(step, name.strip(), float(new) if not isinstance(new, str) else new))
    return tuple(edits)


def check_action(action: OperatorAction, role: Role, fleet: FleetView) -> None:
    """Refuse what this role, or what the HMI showed, does not allow (:class:`ActionError`)."""
    if not role.may_act():
        raise ActionError(f'a {role.value} may not {action.kind.value}: only an operator may act',
                          status=403)  # fmt: skip
    if not fleet.knows(action.robot):
        raise ActionError(f'unknown robot {action.robot!r}; this HMI serves {fleet.robots}', 404)
    if action.kind in (ActionKind.APPROVE, ActionKind.REJECT, ActionKind.EDIT):
        found = fleet.plan(action.robot, action.plan_id)
        if found is None:
            raise ActionError(f'plan {action.plan_id!r} is not among the proposals shown', 404)
        proposal, plan = found
        if proposal['incident_id'] != action.incident_id:
            raise ActionError(
                f'plan {action.plan_id!r} belongs to incident {proposal["incident_id"]!r}, '
                f'not {action.incident_id!r}'
            )
        if action.kind is not ActionKind.REJECT and plan['digest'] != action.plan_digest:
            raise ActionError(
                f'plan {action.plan_id!r} changed since it was shown (digest '
                f'{action.plan_digest[:12]}… shown, {plan["digest"][:12]}… now): look again',
                status=409,
            )
