"""The reasoner node's policy, without ROS: when to reason, in which mode, and what may run alone.

- **When**: an incident is reasoned about when it opens, when its kinds or severity change
  (also after a proposal, while it waits for a decision), and after a failed recovery while
  attempts remain; never while it is stale (the robot's data
  stopped: nothing can be verified), while a plan for it executes, or once it is closed.
- **Mode**: ``auto`` picks Instant for critical incidents (a person, an e-stop: the answer is
  to hold still, now) and Thinking for the others; the node's ``mode`` parameter can force one.
- **Auto-approval**: a site may let the best plan run without an operator, per incident kind
  up to a tier (A or B; tier C never: DOMAIN.md), when its confidence reaches a threshold, the
  simulator predicts success, and the reasoner did not ask for a person.
- **Retries**: after ``max_attempts`` failed recoveries the only plan is to ask a person.
- **Looking again**: a proposal that is not settled (see :func:`unsettled`) is reasoned about
  again as its incident updates.
- **One plan at a time**: an operator's approval that arrives while another plan of the robot
  executes waits (:class:`ApprovedPlans`) and is sent to the gate when that one ends.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from muse_supervisor.domain import IncidentKind, Severity, Tier
from muse_supervisor.domain.incidents import IncidentState
from muse_supervisor.domain.plans import Plan
from muse_supervisor.params import ConfigError
from muse_supervisor.reasoner.core import OPERATOR_GENERATOR, Proposal
from muse_supervisor.sim.rollout import Verdict

MODE_CHOICES = ('auto', 'instant', 'thinking')
_OPEN_STATES = (IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.FAILED)


def choose_mode(severity: Severity, forced: str) -> str:
    """The mode for an incident of ``severity``; ``forced`` is the node's ``mode`` parameter."""
    if forced not in MODE_CHOICES:
        raise ValueError(f'mode {forced!r}: expected one of {MODE_CHOICES}')
    if forced != 'auto':
        return forced
    return 'instant' if severity >= Severity.CRITICAL else 'thinking'


@dataclass(frozen=True)
class AutoApproval:
    """Which plans may run without an operator: kind -> highest tier allowed (never C)."""

    tiers: Mapping[IncidentKind, Tier] = field(default_factory=dict)
    min_confidence: float = 0.9

    @classmethod
    def parse(cls, entries: list[str], min_confidence: float) -> AutoApproval:
        """``["low_battery:B", "camera_fault:A"]``; :class:`ConfigError` names a bad entry."""
        tiers: dict[IncidentKind, Tier] = {}
        for entry in entries:
            name, _, tier = entry.partition(':')
            try:
                kind = IncidentKind[name.strip().upper()]
            except KeyError:
                raise ConfigError(
                    f'auto_approve entry {entry!r}: unknown kind {name!r}; expected one of '
                    f'{[k.name.lower() for k in IncidentKind]}'
                ) from None
            if tier.strip().upper() not in ('A', 'B'):
                raise ConfigError(
                    f'auto_approve entry {entry!r}: tier {tier!r}, expected A or B (tier C '
                    'always needs an operator)'
                )
            tiers[kind] = Tier[tier.strip().upper()]
        if not 0.0 <= min_confidence <= 1.0:
            raise ConfigError(f'auto_approve_confidence {min_confidence}: expected 0..1')
        return cls(tiers, min_confidence)

    def decide(self, proposal: Proposal) -> tuple[bool, str]:
        """Whether the best plan may run now, and why (or why not), for the log and the HMI."""
        if not proposal.plans:
            return False, 'no plan'
        best = proposal.plans[0]
        kind = proposal.belief.governing
        allowed = self.tiers.get(kind)
        if allowed is None:
            return False, f'no auto-approval for {kind.name.lower()}'
        if best.plan.tier >= Tier.C or best.requires_approval:
            return False, 'the plan needs an operator (tier C or approval required)'
        if best.plan.tier > allowed:
            return False, f'tier {Tier(best.plan.tier).name} above the allowed {allowed.name}'
        if best.candidate.generator == OPERATOR_GENERATOR:
            return False, 'the reasoner asks a person'
        if best.confidence < self.min_confidence:
            # Four significant digits: 0.8999 must not read as "0.90 below 0.90".
            return False, f'confidence {best.confidence:.4g} below {self.min_confidence:.4g}'
        if best.prediction is None or best.prediction.verdict is not Verdict.SUCCESS:
            verdict = 'none' if best.prediction is None else best.prediction.verdict.name
            return False, f'predicted outcome {verdict}, not SUCCESS'
        return True, f'auto-approved: {kind.name.lower()} up to tier {allowed.name}'


def unsettled(proposal: Proposal, simulating: bool) -> str:
    """Why ``proposal`` should be looked at again as its incident updates, or ``''``.

    - It asked a person because the reading was doubtful: evidence arrives over time (a battery
      reading after the battery's diagnostic).
    - ``simulating`` and the simulator gave no prediction for the best plan before the deadline
      (a loaded machine): without one nothing may run by policy, and the next look may get one.
    """
    if not proposal.plans:
        return ''
    best = proposal.plans[0]
    if best.candidate.generator == OPERATOR_GENERATOR:
        return 'the reading was doubtful'
    if simulating and best.prediction is None:
        return 'the best plan was not simulated before the deadline'
    return ''


@dataclass(frozen=True)
class IncidentUpdate:
    """What the watch needs of one published incident update."""

    id: str
    kind: IncidentKind
    other_kinds: tuple[IncidentKind, ...]
    severity: Severity
    state: IncidentState
    attempts: int
    stale: bool


@dataclass
class IncidentWatch:
    """Which incident updates call for (new) reasoning; one entry per open incident.

    An unsettled proposal (:func:`unsettled`) is looked at again when the incident's next update
    comes, at most every ``recheck`` seconds, until it is settled: a robot that was unsure
    should not stay unsure once it knows.
    """

    max_attempts: int = 3
    recheck: float = 2.0
    _seen: dict[str, tuple[object, ...]] = field(default_factory=dict)  # reading, then state
    _unsettled: dict[str, float] = field(default_factory=dict)  # incident -> when last reasoned

    def wants(self, update: IncidentUpdate, now: float = 0.0) -> bool:
        """Whether this update should be reasoned about (and remember that it was seen)."""
        if update.state in (IncidentState.RESOLVED, IncidentState.DISMISSED):
            self._seen.pop(update.id, None)
            self._unsettled.pop(update.id, None)
            return False
        if update.stale:
            return False
        reading = (update.kind, tuple(sorted(update.other_kinds)), update.severity,
                   update.attempts)  # fmt: skip
        if update.state is IncidentState.PROPOSED:
            # A cause that joined (a person stepping in while a blocked path waits for its
            # plan) changes what the incident is: it is reasoned about afresh.
            seen = self._seen.get(update.id)
            if seen is not None and seen[:-1] != reading:
                self._seen[update.id] = (*reading, update.state)
                return True
            since = self._unsettled.get(update.id)
            if since is None or now - since < self.recheck:
                return False
            self._unsettled[update.id] = now
            return True
        if update.state not in _OPEN_STATES:
            return False
        key = (*reading, update.state)
        if self._seen.get(update.id) == key:
            return False
        self._seen[update.id] = key
        return True

    def proposed(self, incident_id: str, unsettled: bool, now: float) -> None:
        """Record a proposal; ``unsettled``: it is to be looked at again (:func:`unsettled`)."""
        if unsettled:
            self._unsettled[incident_id] = now
        else:
            self._unsettled.pop(incident_id, None)

    def must_ask(self, update: IncidentUpdate) -> bool:
        """Whether the recoveries are used up: a person decides what happens next."""
        return update.attempts >= self.max_attempts


@dataclass
class ApprovedPlans:
    """Operator-approved plans waiting for the gate, which runs one plan at a time.

    An approval that arrives while another plan executes waits here, oldest first, one per
    incident (a newer approval for the same incident replaces it). When the running plan ends,
    :meth:`next` gives the oldest one whose plan is still the one proposed for its incident; one
    that a newer proposal replaced is dropped (the operator approved something else than what
    now stands). The gate checks again: it executes only on an approval it holds for that
    digest, not expired (``approval_timeout``), and validates the plan against the live inputs.
    """

    _waiting: OrderedDict[str, tuple[Plan, str]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # callers on several threads

    def wait(self, incident_id: str, plan: Plan, operator: str) -> None:
        """``operator``'s approval of ``plan`` waits for the running plan to end."""
        with self._lock:
            self._waiting.pop(incident_id, None)
            self._waiting[incident_id] = (plan, operator)

    def next(
        self, still_proposed: Callable[[str, Plan], bool]
    ) -> tuple[tuple[str, Plan, str] | None, list[str]]:
        """The next approved plan to send, and why each one passed over was dropped.

        The plan comes as ``(incident, plan, operator)``, or ``None`` when none waits.
        """
        dropped: list[str] = []
        with self._lock:
            while self._waiting:
                incident_id, (plan, operator) = self._waiting.popitem(last=False)
                if still_proposed(incident_id, plan):
                    return (incident_id, plan, operator), dropped
                dropped.append(f'approval of {plan.id!r} by {operator}: a newer proposal '
                               'replaced it')  # fmt: skip
        return None, dropped

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting)
