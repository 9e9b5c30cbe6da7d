"""How often an incident goes out: every change that matters at once, repeated evidence coalesced.

An incident whose camera keeps seeing the same thing changes with every analysed frame (one more
piece of evidence, a count in its summary); sending each of those would flood every listener
and the recording with near-copies. So an update goes out at once when what an operator acts on
changed (state, kinds, severity, staleness, owner, a transition, an attempt) and otherwise at
most once per ``period``, as the latest snapshot: nothing is lost, only the in-between copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from muse_supervisor.domain.incidents import IncidentSnapshot


def headline(snapshot: IncidentSnapshot) -> tuple[object, ...]:
    """What an operator acts on; a change here is published at once."""
    return (
        snapshot.state, snapshot.kind, snapshot.other_kinds, snapshot.severity, snapshot.stale,
        snapshot.acknowledged_by, snapshot.owner, len(snapshot.transitions), snapshot.attempts,
    )  # fmt: skip


@dataclass
class UpdateThrottle:
    """Decides which incident snapshots to publish now and which to hold for a moment."""

    period: float = 1.0  # s between two updates of one incident whose headline did not change
    _sent: dict[str, tuple[float, tuple[object, ...]]] = field(default_factory=dict)
    _held: dict[str, IncidentSnapshot] = field(default_factory=dict)

    def offer(self, snapshots: list[IncidentSnapshot], now: float) -> list[IncidentSnapshot]:
        """The snapshots to publish now; the others are held until :meth:`due`."""
        out = []
        for snapshot in snapshots:
            sent = self._sent.get(snapshot.id)
            if sent is None or sent[1] != headline(snapshot) or now - sent[0] >= self.period:
                out.append(self._send(snapshot, now))
            else:
                self._held[snapshot.id] = snapshot
        return out

    def due(self, now: float) -> list[IncidentSnapshot]:
        """Held snapshots whose period has passed (call from a timer)."""
        ready = [
            s for i, s in self._held.items() if now - self._sent[i][0] >= self.period
        ]  # fmt: skip
        return [self._send(snapshot, now) for snapshot in ready]

    def _send(self, snapshot: IncidentSnapshot, now: float) -> IncidentSnapshot:
        self._held.pop(snapshot.id, None)
        if snapshot.terminal:
            self._sent.pop(snapshot.id, None)  # closed for good: nothing more will come
        else:
            self._sent[snapshot.id] = (now, headline(snapshot))
        return snapshot
