"""The incident lifecycle and the incident as perception hands it to the reasoner and the HMI.

Perception opens and verifies incidents; the reasoner proposes plans for them; the HMI shows them
and records operator decisions. All three need the same states, the same rules for moving between
them and the same snapshot, so they live here and not in any one of those packages. Values equal
the ``Incident.STATE_*`` and ``MissionState.STATUS_*`` constants (checked by the test suite).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.domain.vocabulary import IncidentKind, Severity


class IncidentState(enum.IntEnum):
    """Where an incident stands; values equal ``Incident.STATE_*``.

    RESOLVED means verified: the raising condition was seen cleared. FAILED means it was not seen
    cleared in time after a plan ran (or the plan failed); DISMISSED means an operator closed it
    with a reason. Staleness is not a state: a robot whose data stopped keeps its incidents in
    whatever state they were, flagged stale, so that silence never reads as failed or as fine.
    """

    OPEN = 0
    ACKNOWLEDGED = 1
    PROPOSED = 2
    APPROVED = 3
    EXECUTING = 4
    RESOLVED = 5
    FAILED = 6
    DISMISSED = 7


# The legal moves. OPEN -> PROPOSED is allowed because the reasoner proposes as soon as an incident
# opens, whether or not an operator has taken it yet; FAILED -> PROPOSED is a retry (bounded by the
# tracker's max_attempts). EXECUTING cannot be dismissed: the plan must end (resolved or failed)
# first, so that no incident is closed while something still moves the robot for it.
TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    IncidentState.OPEN: frozenset(
        {
            IncidentState.ACKNOWLEDGED,
            IncidentState.PROPOSED,
            IncidentState.RESOLVED,
            IncidentState.DISMISSED,
        }
    ),
    IncidentState.ACKNOWLEDGED: frozenset(
        {IncidentState.PROPOSED, IncidentState.RESOLVED, IncidentState.DISMISSED}
    ),
    IncidentState.PROPOSED: frozenset(
        {
            IncidentState.APPROVED,
            IncidentState.PROPOSED,
            IncidentState.RESOLVED,
            IncidentState.DISMISSED,
        }
    ),
    IncidentState.APPROVED: frozenset(
        {IncidentState.EXECUTING, IncidentState.RESOLVED, IncidentState.DISMISSED}
    ),
    IncidentState.EXECUTING: frozenset({IncidentState.RESOLVED, IncidentState.FAILED}),
    IncidentState.FAILED: frozenset({IncidentState.PROPOSED, IncidentState.DISMISSED}),
    IncidentState.RESOLVED: frozenset(),
    IncidentState.DISMISSED: frozenset(),
}

TERMINAL_STATES = frozenset(state for state, moves in TRANSITIONS.items() if not moves)


class IncidentAction(enum.IntEnum):
    """A lifecycle step asked of the incident keeper; values equal ``UpdateIncident.ACTION_*``."""

    ACKNOWLEDGE = 1
    PROPOSE = 2
    APPROVE = 3
    START_EXECUTION = 4
    EXECUTION_SUCCEEDED = 5
    EXECUTION_FAILED = 6
    DISMISS = 7
    ASSIGN = 8


class IllegalTransitionError(ValueError):
    """A lifecycle move that the rules do not allow; the message says which and what is allowed."""


def check_transition(incident_id: str, current: IncidentState, target: IncidentState) -> None:
    """Raise :class:`IllegalTransitionError` unless ``current -> target`` is a legal move."""
    allowed = TRANSITIONS[current]
    if target not in allowed:
        names = ', '.join(sorted(state.name.lower() for state in allowed)) or 'none (final state)'
        raise IllegalTransitionError(
            f'incident {incident_id}: cannot go from {current.name.lower()} to '
            f'{target.name.lower()}; allowed from {current.name.lower()}: {names}'
        )


class MissionStatus(enum.IntEnum):
    """Values equal ``MissionState.STATUS_*``; perception reads FAILED/ABORTED as incidents."""

    IDLE = 0
    RUNNING = 1
    PAUSED = 2
    SUCCEEDED = 3
    FAILED = 4
    ABORTED = 5


@dataclass(frozen=True)
class Transition:
    """One lifecycle move: when, by whom (an operator id, ``policy``, ``perception``, ...), why."""

    from_state: IncidentState
    to_state: IncidentState
    stamp: float
    actor: str
    reason: str = ''

    def to_dict(self) -> dict[str, object]:
        """JSON-able form (states by name, so a scenario file reads without the enum)."""
        return {
            'from_state': self.from_state.name.lower(),
            'to_state': self.to_state.name.lower(),
            'stamp': self.stamp,
            'actor': self.actor,
            'reason': self.reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transition:
        """Inverse of :meth:`to_dict`."""
        return cls(
            IncidentState[str(data['from_state']).upper()],
            IncidentState[str(data['to_state']).upper()],
            float(data['stamp']),
            str(data['actor']),
            str(data.get('reason', '')),
        )


@dataclass(frozen=True)
class Cause:
    """One cause of an incident: a de-duplication key, its kind, and where it stands now."""

    key: str
    kind: IncidentKind
    severity: Severity
    active: bool
    first_seen: float
    last_seen: float
    observations: int
    suppressed: int


@dataclass(frozen=True)
class IncidentSnapshot:
    """An incident as the reasoner, the HMI and the recorder see it at one moment.

    ``dedup_key`` names the cause that opened it (later causes that joined are in ``causes``);
    ``stale`` with ``last_data`` says the robot's inputs went silent (no data since
    ``last_data``); ``suppressed`` counts repeated low-severity evidence that was not kept;
    ``severity_history`` lists ``(stamp, severity)`` at each change, the key frames' anchors.
    """

    id: str
    robot_id: str
    dedup_key: str
    kind: IncidentKind
    other_kinds: tuple[IncidentKind, ...]
    severity: Severity
    state: IncidentState
    opened: float
    updated: float
    confidence: float
    summary: str
    owner: str = ''
    acknowledged_by: str = ''
    state_reason: str = ''
    stale: bool = False
    last_data: float = 0.0
    suppressed: int = 0
    attempts: int = 0
    causes: tuple[Cause, ...] = ()
    transitions: tuple[Transition, ...] = ()
    evidence: tuple[Observation, ...] = field(default_factory=tuple)
    severity_history: tuple[tuple[float, Severity], ...] = ()

    @property
    def terminal(self) -> bool:
        """Whether the incident is closed (resolved or dismissed) for good."""
        return self.state in TERMINAL_STATES

    def to_dict(self) -> dict[str, object]:
        """JSON-able form: kinds, severities and states by name; evidence with its provenance."""
        return {
            'id': self.id,
            'robot_id': self.robot_id,
            'dedup_key': self.dedup_key,
            'kind': self.kind.name.lower(),
            'other_kinds': [kind.name.lower() for kind in self.other_kinds],
            'severity': self.severity.name.lower(),
            'state': self.state.name.lower(),
            'opened': self.opened,
            'updated': self.updated,
            'confidence': self.confidence,
            'summary': self.summary,
            'owner': self.owner,
            'acknowledged_by': self.acknowledged_by,
            'state_reason': self.state_reason,
            'stale': self.stale,
            'last_data': self.last_data,
            'suppressed': self.suppressed,
            'attempts': self.attempts,
            'causes': [
                {
                    'key': cause.key,
                    'kind': cause.kind.name.lower(),
                    'severity': cause.severity.name.lower(),
                    'active': cause.active,
                    'first_seen': cause.first_seen,
                    'last_seen': cause.last_seen,
                    'observations': cause.observations,
                    'suppressed': cause.suppressed,
                }
                for cause in self.causes
            ],
            'transitions': [transition.to_dict() for transition in self.transitions],
            'evidence': [observation.to_dict() for observation in self.evidence],
            'severity_history': [
                [stamp, severity.name.lower()] for stamp, severity in self.severity_history
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IncidentSnapshot:
        """Inverse of :meth:`to_dict`; a missing or misspelt field raises a :class:`ValueError`."""
        try:
            return cls(
                id=str(data['id']),
                robot_id=str(data['robot_id']),
                dedup_key=str(data['dedup_key']),
                kind=IncidentKind[str(data['kind']).upper()],
                other_kinds=tuple(IncidentKind[str(k).upper()] for k in data['other_kinds']),
                severity=Severity[str(data['severity']).upper()],
                state=IncidentState[str(data['state']).upper()],
                opened=float(data['opened']),
                updated=float(data['updated']),
                confidence=float(data['confidence']),
                summary=str(data['summary']),
                owner=str(data.get('owner', '')),
                acknowledged_by=str(data.get('acknowledged_by', '')),
                state_reason=str(data.get('state_reason', '')),
                stale=bool(data.get('stale', False)),
                last_data=float(data.get('last_data', 0.0)),
                suppressed=int(data.get('suppressed', 0)),
                attempts=int(data.get('attempts', 0)),
                causes=tuple(
                    Cause(
                        str(c['key']),
                        IncidentKind[str(c['kind']).upper()],
                        Severity[str(c['severity']).upper()],
                        bool(c['active']),
                        float(c['first_seen']),
                        float(c['last_seen']),
                        int(c['observations']),
                        int(c['suppressed']),
                    )
                    for c in data.get('causes', [])
                ),
                transitions=tuple(Transition.from_dict(t) for t in data.get('transitions', [])),
                evidence=tuple(Observation.from_dict(o) for o in data.get('evidence', [])),
                severity_history=tuple(
                    (float(stamp), Severity[str(name).upper()])
                    for stamp, name in data.get('severity_history', [])
                ),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f'incident record: missing or invalid field {error}') from error
