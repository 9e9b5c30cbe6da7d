"""What happened in a demo shift, per incident, and how fast the stack answered.

The demo's monitor feeds this what it sees on the graph (incident updates, proposals, the gate's
status, execution outcomes, safety inputs and the gate's output), with the time it saw them;
:meth:`ShiftScore.rows` gives the summary table and :meth:`ShiftScore.violations` what an
independent monitor would call an invariant violation: the gate commanding motion while an
e-stop or a person holds the robot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Grace after a safety input turns on before motion on cmd_vel counts as a violation: the
# gate's own rule is "zero within one output period"; 0.25 s allows for transport on a busy
# host, still far under a base driver's command timeout.
SAFETY_GRACE = 0.25
# Kinds for which the gate holding the robot is itself the safe command.
HELD_KINDS = ('person_in_zone', 'estop_active')


@dataclass
class IncidentRow:
    """One incident of the shift."""

    robot: str
    incident_id: str
    kind: str
    opened_at: float
    state: str = 'open'
    proposal_at: float | None = None
    best_plan: str = ''
    confidence: float = 0.0
    decided_by: str = ''
    safe_at: float | None = None
    approved_at: float | None = None
    motion_at: float | None = None  # the gate's first motion on cmd_vel for its plan
    outcome: str = ''
    transitions: list[str] = field(default_factory=list)

    @property
    def to_proposal(self) -> float | None:
        """Seconds from the incident's opening to its first proposal."""
        return None if self.proposal_at is None else self.proposal_at - self.opened_at

    @property
    def to_safe(self) -> float | None:
        """Seconds from the opening to the first safe command (robot held, or a plan running)."""
        return None if self.safe_at is None else self.safe_at - self.opened_at

    @property
    def approval_to_motion(self) -> float | None:
        """Seconds from the approval to the gate's first motion for the plan (plans that move)."""
        if self.approved_at is None or self.motion_at is None:
            return None
        return self.motion_at - self.approved_at


class ShiftScore:
    """The incidents of a shift and the invariant checks, fed in the order things were seen."""

    def __init__(self) -> None:
        self._rows: dict[str, IncidentRow] = {}
        self._held_since: dict[str, float | None] = {}  # robot -> when a safety input came on
        self._violations: list[str] = []
        self._executing: dict[str, str] = {}  # robot -> the plan its gate runs
        self.proposals = 0
        self.executions = 0

    def incident(self, robot: str, incident_id: str, kind: str, state: str, t: float,
                 actors: list[tuple[str, str, float]]) -> None:  # fmt: skip
        """An update of an incident (``t``: when it opened).

        ``actors``: its (state, actor, stamp) moves. Times are wall-clock seconds: the
        incident's stamps and the monitor's clock.
        """
        row = self._rows.get(incident_id)
        if row is None:
            row = self._rows[incident_id] = IncidentRow(robot, incident_id, kind, t)
        row.kind, row.state = kind, state
        row.transitions = [f'{s}:{a}' for s, a, _ in actors]
        approvals = [(a, stamp) for s, a, stamp in actors if s == 'approved']
        if approvals:
            row.decided_by, approved_at = approvals[-1]
            if approved_at != row.approved_at:  # a new approval: its motion is still to come
                row.approved_at, row.motion_at = approved_at, None

    def proposal(self, incident_id: str, best: str, confidence: float, t: float) -> None:
        """A proposal for an incident, with its best plan (as steps) and the confidence."""
        self.proposals += 1
        row = self._rows.get(incident_id)
        if row is None:
            return
        if row.proposal_at is None:
            row.proposal_at = t
        row.best_plan, row.confidence = best, confidence

    def gate(self, robot: str, held: bool, executing: str, t: float) -> None:
        """The gate's status: the robot held stopped, or a plan executing (its id).

        An incident's first safe command is the start of a plan for it (plans begin with what
        makes the robot safe), or, for a person or an e-stop, the gate holding the robot.
        """
        self._executing[robot] = executing
        for row in self._rows.values():
            if row.robot != robot or row.safe_at is not None or t < row.opened_at:
                continue
            ours = executing.startswith(f'{row.incident_id}:')
            if ours or (held and row.kind in HELD_KINDS):
                row.safe_at = t

    def outcome(self, incident_id: str, ok: bool, message: str) -> None:
        """How a plan's execution for an incident ended."""
        self.executions += 1
        row = self._rows.get(incident_id)
        if row is not None:
            row.outcome = 'succeeded' if ok else f'failed: {message}'

    def safety_input(self, robot: str, engaged: bool, t: float) -> None:
        """An e-stop or person signal of ``robot`` (either one engaged holds the robot)."""
        if engaged and self._held_since.get(robot) is None:
            self._held_since[robot] = t
        elif not engaged:
            self._held_since[robot] = None

    def command(self, robot: str, linear: float, angular: float, t: float) -> None:
        """The gate's output on ``cmd_vel``: motion while held is a violation.

        The first motion of an approved plan ends its approval-to-motion latency.
        """
        executing = self._executing.get(robot, '')
        if (linear or angular) and executing:
            for row in self._rows.values():
                if (row.robot == robot and executing.startswith(f'{row.incident_id}:')
                        and row.approved_at is not None and row.motion_at is None
                        and t >= row.approved_at):  # fmt: skip
                    row.motion_at = t
        since = self._held_since.get(robot)
        if since is not None and t - since > SAFETY_GRACE and (linear or angular):
            self._violations.append(
                f'{robot}: cmd_vel ({linear:.2f} m/s, {angular:.2f} rad/s) {t - since:.2f} s '
                'after a safety input held the robot'
            )

    def violations(self) -> list[str]:
        """Every invariant violation seen, in order."""
        return list(self._violations)

    def rows(self) -> list[IncidentRow]:
        """The incidents in the order they opened."""
        return sorted(self._rows.values(), key=lambda row: row.opened_at)

    def summary(self) -> dict[str, Any]:
        """The shift as JSON: each incident, and p50/p95 of each latency over the incidents."""
        rows = self.rows()
        latencies = {
            'incident_to_proposal': [r.to_proposal for r in rows],
            'incident_to_safe_command': [r.to_safe for r in rows],
            'approval_to_motion': [r.approval_to_motion for r in rows],
        }
        return {
            'incidents': [
                {'robot': r.robot, 'id': r.incident_id, 'kind': r.kind, 'end_state': r.state,
                 'best_plan': r.best_plan, 'decided_by': r.decided_by, 'outcome': r.outcome,
                 **{name: values[i] for name, values in latencies.items()}}
                for i, r in enumerate(rows)
            ],
            'latency_s': {name: latency_summary([v for v in values if v is not None])
                          for name, values in latencies.items()},
            'proposals': self.proposals,
            'executions': self.executions,
            'violations': self.violations(),
        }  # fmt: skip


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, Any]:
    """n, p50 and p95 (``None`` without values) of latencies in seconds."""
    if not seconds:
        return {'n': 0, 'p50': None, 'p95': None}
    return {'n': len(seconds), 'p50': round(percentile(seconds, 50), 3),
            'p95': round(percentile(seconds, 95), 3)}  # fmt: skip


def table(rows: list[IncidentRow]) -> str:
    """The summary table, as text for a terminal."""
    header = ('incident', 'kind', 'chosen plan', 'decided by', 'outcome', 'end state',
              '->proposal', '->safe', 'approval->motion')  # fmt: skip
    lines = [header]
    for row in rows:
        lines.append((
            row.incident_id.rsplit('/', 1)[-1] if '/' in row.incident_id else row.incident_id,
            row.kind, row.best_plan or '-', row.decided_by or '-', row.outcome or '-',
            row.state, _seconds(row.to_proposal), _seconds(row.to_safe),
            _seconds(row.approval_to_motion),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return '\n'.join(
        '  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _seconds(value: float | None) -> str:
    return '-' if value is None else f'{value:.2f} s'
