"""Operator decisions on recovery plans: which plan an approval is for, for how long, how often.

An approval names one exact plan: its id and its digest (:func:`~muse_supervisor.domain.plans.
plan_digest`), which the operator's HMI showed with the plan. The gate approves only plans it has
received in a ``RecoveryProposal`` and only when the digest the operator saw is the one of the plan
the gate holds, so a proposal re-published under the same id cannot change what was approved.
An approval is used up by the execution that relies on it and expires after
``approval_timeout``; both books are bounded, oldest dropped first.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from muse_supervisor.domain.plans import Plan
from muse_supervisor.safety.config import GateLimits


class Decision(enum.IntEnum):
    """Values equal ``ApprovePlan.Request.DECISION_*``."""

    APPROVE = 1
    REJECT = 2


@dataclass(frozen=True)
class Approval:
    """An operator's approval of one exact plan."""

    plan_id: str
    digest: str
    operator_id: str
    reason: str
    stamp: float


@dataclass(frozen=True)
class DecisionRequest:
    """What an operator decided, as the ``approve_plan`` service received it."""

    operator_id: str
    plan_id: str
    plan_digest: str
    decision: int
    reason: str = ''


@dataclass(frozen=True)
class _Used:
    approval: Approval
    at: float


class ApprovalBook:
    """Known plans and operator approvals. Not thread-safe: the gate serialises calls."""

    def __init__(self, limits: GateLimits) -> None:
        self._timeout = limits.approval_timeout
        self._max_plans = limits.max_known_plans
        self._max_approvals = limits.max_approvals
        self._plans: OrderedDict[str, Plan] = OrderedDict()
        self._approvals: OrderedDict[str, Approval] = OrderedDict()
        self._used: OrderedDict[str, _Used] = OrderedDict()

    def learn(self, plans: Iterable[Plan]) -> None:
        """Remember proposed plans (a re-published id replaces the plan held under it)."""
        for plan in plans:
            self._plans.pop(plan.id, None)
            self._plans[plan.id] = plan
            _bound(self._plans, self._max_plans)

    def known(self, plan_id: str) -> Plan | None:
        """The plan held under ``plan_id``, if any."""
        return self._plans.get(plan_id)

    def decide(self, request: DecisionRequest, now: float) -> tuple[bool, str]:
        """Record an operator's decision; return (accepted, message saying what or why not)."""
        operator = request.operator_id.strip()
        if not operator:
            return False, 'operator_id is empty: every decision needs an identified operator'
        if request.decision not in (Decision.APPROVE, Decision.REJECT):
            return False, (
                f'unknown decision {request.decision}; expected {int(Decision.APPROVE)} '
                f'(approve) or {int(Decision.REJECT)} (reject)'
            )
        plan = self._plans.get(request.plan_id)
        if plan is None:
            return False, (
                f'unknown plan {request.plan_id!r}: the gate approves only plans it has received '
                'in a RecoveryProposal (or it has forgotten this one: oldest are dropped first)'
            )
        if request.decision == Decision.REJECT:
            # Rejecting is the safe direction: it needs no digest and withdraws any approval.
            self._approvals.pop(plan.id, None)
            return True, f'plan {plan.id} rejected by {operator}'
        digest = plan.digest()
        if request.plan_digest != digest:
            return False, (
                f'plan {plan.id}: digest {request.plan_digest or "(empty)"} does not match the '
                f'plan the gate holds ({digest}); the plan may have been re-published: review it '
                'again before approving'
            )
        self._approvals.pop(plan.id, None)
        self._approvals[plan.id] = Approval(plan.id, digest, operator, request.reason, now)
        _bound(self._approvals, self._max_approvals)
        self._used.pop(plan.id, None)
        return True, (
            f'plan {plan.id} approved by {operator} (digest {digest[:12]}, usable once within '
            f'{self._timeout:g} s)'
        )

    def valid(self, now: float) -> dict[str, Approval]:
        """The approvals usable at ``now``: not expired and not used."""
        return {
            plan_id: approval
            for plan_id, approval in self._approvals.items()
            if 0.0 <= now - approval.stamp <= self._timeout
        }

    def why_not(self, plan: Plan, now: float) -> str:
        """Why no usable approval covers ``plan`` at ``now`` (``''`` when one does)."""
        approval = self._approvals.get(plan.id)
        if approval is None:
            used = self._used.get(plan.id)
            if used is not None:
                return (
                    f'the approval of plan {plan.id} by {used.approval.operator_id} was used by '
                    f'an execution {now - used.at:.1f} s ago; approvals are single-use: approve '
                    'it again'
                )
            return f'plan {plan.id} needs an operator approval (ApprovePlan)'
        age = now - approval.stamp
        if age > self._timeout or age < 0.0:
            return (
                f'the approval of plan {plan.id} by {approval.operator_id} expired '
                f'{age - self._timeout:.1f} s ago (approvals last {self._timeout:g} s): '
                'approve it again'
            )
        if approval.digest != plan.digest():
            return (
                f'plan {plan.id} differs from the version {approval.operator_id} approved '
                f'(approved digest {approval.digest[:12]}, this plan {plan.digest()[:12]})'
            )
        return ''

    def consume(self, plan_id: str, now: float) -> None:
        """The execution of ``plan_id`` started on its approval: it cannot be used again."""
        approval = self._approvals.pop(plan_id, None)
        if approval is not None:
            self._used.pop(plan_id, None)
            self._used[plan_id] = _Used(approval, now)
            _bound(self._used, self._max_approvals)


_Entry = TypeVar('_Entry')


def _bound(book: OrderedDict[str, _Entry], size: int) -> None:
    while len(book) > size:
        book.popitem(last=False)
