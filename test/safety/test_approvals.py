"""Operator approvals: bound to the plan's digest, single-use, expiring, bounded.

Each of these failed on the gate before the approval book (the node approved whatever plan it
held under an id when the call came, kept approvals forever and let them be used again).
"""

from __future__ import annotations

import dataclasses
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.domain import ArgumentType, Skill, Tier
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step, plan_digest
from muse_supervisor.safety.approvals import ApprovalBook, Decision, DecisionRequest
from muse_supervisor.safety.config import GateLimits

LIMITS = GateLimits(approval_timeout=120.0, max_known_plans=4, max_approvals=3)
NOW = 1000.0


def plan(plan_id: str = 'p1', *steps: Step) -> Plan:
    return Plan(plan_id, 'inc-1', steps or (Step(int(Skill.RESUME_MISSION)),), int(Tier.C), True)


def approve(book: ApprovalBook, target: Plan, now: float = NOW, digest: str | None = None) -> str:
    ok, message = book.decide(
        DecisionRequest('alice', target.id, target.digest() if digest is None else digest,
                        int(Decision.APPROVE), 'checked'),
        now,
    )  # fmt: skip
    assert ok, message
    return message


def test_the_digest_is_pinned() -> None:
    """HMIs compute the same value: a change to the canonical form is a breaking change."""
    example = Plan(
        'plan-7', 'inc-3',
        (Step(int(Skill.REVERSE), (Argument('distance', int(ArgumentType.NUMBER), 0.4),), 10.0),
         Step(int(Skill.NAVIGATE_TO), (Argument('target', int(ArgumentType.POSE),
              pose=PoseTarget('map', 1.5, -2.0, 0.25)),))),
        int(Tier.B), False,
    )  # fmt: skip
    assert plan_digest(example) == example.digest()
    assert example.digest() == PINNED_DIGEST


def _canonical_by_hand() -> str:
    import hashlib

    text = (
        '{"id":"plan-7","incident_id":"inc-3","requires_approval":false,"steps":['
        '{"arguments":[{"name":"distance","number":0.4,"pose":null,"text":"","type":1}],'
        '"skill":6,"timeout":10.0},'
        '{"arguments":[{"name":"target","number":0.0,"pose":{"frame_id":"map","x":1.5,'
        '"y":-2.0,"yaw":0.25},"text":"","type":3}],"skill":9,"timeout":0.0}],"tier":2}'
    )
    return hashlib.sha256(text.encode()).hexdigest()


PINNED_DIGEST = _canonical_by_hand()


_TEXT = st.text(max_size=5)
_NUM = st.floats(allow_nan=True, allow_infinity=True)
_ARG = st.builds(
    Argument, _TEXT, st.integers(0, 3), _NUM, _TEXT,
    st.none() | st.builds(PoseTarget, _TEXT, _NUM, _NUM, _NUM),
)  # fmt: skip
_STEP = st.builds(Step, st.integers(0, 20), st.lists(_ARG, max_size=3).map(tuple), _NUM)
_PLAN = st.builds(
    Plan, _TEXT, _TEXT, st.lists(_STEP, max_size=3).map(tuple), st.integers(0, 4), st.booleans()
)


@settings(max_examples=300, deadline=None, database=None)
@given(_PLAN, _PLAN)
def test_different_plans_have_different_digests(a: Plan, b: Plan) -> None:
    same = repr(a) == repr(b) or (a == b)
    nan_free = not any(
        isinstance(v, float) and math.isnan(v)
        for p in (a, b) for s in p.steps for v in (s.timeout, *(x.number for x in s.arguments))
    )  # fmt: skip
    if nan_free:
        assert (a.digest() == b.digest()) == same


def test_an_approval_needs_the_digest_of_the_plan_the_gate_holds() -> None:
    book = ApprovalBook(LIMITS)
    original = plan('p1')
    book.learn([original])
    ok, message = book.decide(DecisionRequest('alice', 'p1', 'f' * 64, int(Decision.APPROVE)), NOW)
    assert not ok and 'f' * 64 in message and original.digest() in message
    assert book.valid(NOW) == {}
    approve(book, original)
    assert set(book.valid(NOW)) == {'p1'}


def test_a_plan_republished_under_the_same_id_is_not_approved() -> None:
    """The swap: approve p1, then a proposal replaces p1's steps; the approval does not follow."""
    book = ApprovalBook(LIMITS)
    original = plan('p1')
    book.learn([original])
    approve(book, original)
    swapped = plan('p1', Step(int(Skill.RESET_FAULT), (Argument('device', 2, text='brakes'),)))
    book.learn([swapped])
    assert book.valid(NOW)['p1'].digest == original.digest() != swapped.digest()
    assert 'differs from the version alice approved' in book.why_not(swapped, NOW)
    ok, message = book.decide(
        DecisionRequest('alice', 'p1', original.digest(), int(Decision.APPROVE)), NOW
    )
    assert not ok and 'does not match' in message  # the old digest no longer approves


def test_approvals_are_single_use_and_say_so() -> None:
    book = ApprovalBook(LIMITS)
    target = plan()
    book.learn([target])
    approve(book, target)
    assert book.why_not(target, NOW + 1.0) == ''
    book.consume(target.id, NOW + 1.0)
    assert book.valid(NOW + 2.0) == {}
    assert 'single-use' in book.why_not(target, NOW + 2.0)
    approve(book, target, NOW + 3.0)  # a new decision makes it usable once more
    assert book.why_not(target, NOW + 3.0) == ''


def test_approvals_expire_and_say_when() -> None:
    book = ApprovalBook(LIMITS)
    target = plan()
    book.learn([target])
    approve(book, target)
    assert set(book.valid(NOW + 120.0)) == {'p1'}
    assert book.valid(NOW + 120.5) == {}
    assert 'expired 0.5 s ago' in book.why_not(target, NOW + 120.5)


def test_books_are_bounded_oldest_first() -> None:
    book = ApprovalBook(LIMITS)
    plans = [plan(f'p{i}') for i in range(6)]
    book.learn(plans)
    assert [p.id for p in plans if book.known(p.id)] == ['p2', 'p3', 'p4', 'p5']
    for target in plans[2:]:
        approve(book, target)
    assert sorted(book.valid(NOW)) == ['p3', 'p4', 'p5']


def test_decisions_need_an_operator_a_known_plan_and_a_known_decision() -> None:
    book = ApprovalBook(LIMITS)
    target = plan()
    book.learn([target])
    refusals = [
        DecisionRequest(' ', 'p1', target.digest(), int(Decision.APPROVE)),
        DecisionRequest('alice', 'p1', target.digest(), 7),
        DecisionRequest('alice', 'nope', target.digest(), int(Decision.APPROVE)),
    ]
    messages = [book.decide(request, NOW) for request in refusals]
    assert [ok for ok, _ in messages] == [False, False, False]
    assert 'operator' in messages[0][1] and 'unknown decision' in messages[1][1]
    assert 'unknown plan' in messages[2][1]


def test_a_rejection_withdraws_an_approval_without_a_digest() -> None:
    book = ApprovalBook(LIMITS)
    target = plan()
    book.learn([target])
    approve(book, target)
    ok, message = book.decide(DecisionRequest('bob', 'p1', '', int(Decision.REJECT)), NOW)
    assert ok and 'rejected by bob' in message
    assert book.valid(NOW) == {}


def test_a_clock_that_went_back_does_not_stretch_an_approval() -> None:
    book = ApprovalBook(LIMITS)
    target = plan()
    book.learn([target])
    approve(book, target)
    assert book.valid(NOW - 10.0) == {}
    assert dataclasses.replace(target).digest() == target.digest()
