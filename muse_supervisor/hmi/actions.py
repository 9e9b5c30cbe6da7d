"""What an operator may ask of the stack through the HMI, checked before anything is sent.

The browser posts ``{"action", "robot", "incident_id", "plan_id", "plan_digest", "reason",
"assignee"}``; :func:`parse_action` turns it into an :class:`OperatorAction` or says what is
wrong, and :func:`check_action` refuses what the session's role or the HMI's own view does not
allow (a plan the HMI never showed, a digest other than the one it showed). The components check
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


class ActionKind(enum.Enum):
    """The actions the HMI offers; all of them need the role ``operator``."""

    APPROVE = 'approve'
    REJECT = 'reject'
    ACKNOWLEDGE = 'acknowledge'
    ASSIGN = 'assign'
    DISMISS = 'dismiss'
    HANDLED_ON_SITE = 'handled_on_site'
    RESET = 'reset'


# What each action needs besides ``robot``.
_NEEDS: dict[ActionKind, tuple[str, ...]] = {
    ActionKind.APPROVE: ('incident_id', 'plan_id', 'plan_digest'),
    ActionKind.REJECT: ('incident_id', 'plan_id', 'reason'),
    ActionKind.ACKNOWLEDGE: ('incident_id',),
    ActionKind.ASSIGN: ('incident_id', 'assignee'),
    ActionKind.DISMISS: ('incident_id', 'reason'),
    ActionKind.HANDLED_ON_SITE: ('incident_id',),
    ActionKind.RESET: ('reason',),
}
_FIELDS = ('action', 'robot', 'incident_id', 'plan_id', 'plan_digest', 'reason', 'assignee')


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


def parse_action(body: Any) -> OperatorAction:
    """An :class:`OperatorAction` from a request body, or :class:`ActionError` saying why not."""
    if not isinstance(body, dict):
        raise ActionError(f'expected a JSON object with {list(_FIELDS)}')
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise ActionError(f'unknown field(s) {unknown}; expected some of {list(_FIELDS)}')
    values = {}
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
    if kind is ActionKind.APPROVE and not _DIGEST.fullmatch(values['plan_digest']):
        raise ActionError('plan_digest must be the 64 hex digits of the plan shown')
    del values['action']
    return OperatorAction(kind, **values)


def check_action(action: OperatorAction, role: Role, fleet: FleetView) -> None:
    """Refuse what this role, or what the HMI showed, does not allow (:class:`ActionError`)."""
    if not role.may_act():
        raise ActionError(f'a {role.value} may not {action.kind.value}: only an operator may act',
                          status=403)  # fmt: skip
    if not fleet.knows(action.robot):
        raise ActionError(f'unknown robot {action.robot!r}; this HMI serves {fleet.robots}', 404)
    if action.kind in (ActionKind.APPROVE, ActionKind.REJECT):
        found = fleet.plan(action.robot, action.plan_id)
        if found is None:
            raise ActionError(f'plan {action.plan_id!r} is not among the proposals shown', 404)
        proposal, plan = found
        if proposal['incident_id'] != action.incident_id:
            raise ActionError(
                f'plan {action.plan_id!r} belongs to incident {proposal["incident_id"]!r}, '
                f'not {action.incident_id!r}'
            )
        if action.kind is ActionKind.APPROVE and plan['digest'] != action.plan_digest:
            raise ActionError(
                f'plan {action.plan_id!r} changed since it was shown (digest '
                f'{action.plan_digest[:12]}… shown, {plan["digest"][:12]}… now): look again',
                status=409,
            )
