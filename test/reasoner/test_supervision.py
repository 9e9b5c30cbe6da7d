"""The reasoner node's policy: when to reason, which mode, what may run without an operator."""

from __future__ import annotations

from dataclasses import replace

import pytest

from muse_supervisor.domain import IncidentKind, Severity, Skill, Tier
from muse_supervisor.domain.incidents import IncidentState
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Plan, Step
from muse_supervisor.params import ConfigError
from muse_supervisor.reasoner.belief import KindBelief
from muse_supervisor.reasoner.core import Candidate, Proposal, RankedPlan
from muse_supervisor.reasoner.supervision import (
    ApprovedPlans,
    AutoApproval,
    IncidentUpdate,
    IncidentWatch,
    choose_mode,
    unsettled,
)
from muse_supervisor.sim.rollout import Prediction, Verdict


def _prediction(verdict: Verdict) -> Prediction:
    return Prediction('p', verdict, True, verdict is Verdict.SUCCESS, 10.0, 3.0, 1.0, 0.1, 0.1,
                      -1, (Pose2D(0, 0, 0),), (), 'ok')  # fmt: skip


def _proposal(
    kind: IncidentKind = IncidentKind.LOW_BATTERY,
    tier: Tier = Tier.B,
    confidence: float = 0.95,
    verdict: Verdict | None = Verdict.SUCCESS,
    generator: str = 'sop/thinking',
) -> Proposal:
    plan = Plan('p', 'i', (Step(int(Skill.NAVIGATE_TO)),), int(tier), tier is Tier.C)
    candidate = Candidate(plan, 'SOP-LB-01', kind, 'why', ('SOP-LB-01',), 1.0, generator)
    ranked = RankedPlan(candidate, confidence, 0.1, tier is Tier.C,
                        None if verdict is None else _prediction(verdict), 1.0)  # fmt: skip
    belief = KindBelief(kind, (kind,), confidence, {kind: confidence})
    return Proposal('i', belief, (ranked,), (), (), 'thinking', 'sop', 5.0, 'summary')


POLICY = AutoApproval.parse(['low_battery:B', 'camera_fault:A'], 0.9)


def test_only_configured_kinds_up_to_their_tier_with_confidence_and_success_run_alone() -> None:
    assert POLICY.decide(_proposal())[0]
    refusals = {
        'no auto-approval for motor_fault': _proposal(kind=IncidentKind.MOTOR_FAULT),
        'tier B above the allowed A': _proposal(kind=IncidentKind.CAMERA_FAULT),
        'needs an operator': _proposal(tier=Tier.C),
        'confidence 0.8 below 0.9': _proposal(confidence=0.8),
        'confidence 0.8999 below 0.9': _proposal(confidence=0.8999),
        'predicted outcome FAILURE': _proposal(verdict=Verdict.FAILURE),
        'predicted outcome none': _proposal(verdict=None),
        'the reasoner asks a person': _proposal(generator='sop/operator'),
    }
    for why, proposal in refusals.items():
        allowed, reason = POLICY.decide(proposal)
        assert not allowed and why in reason, (why, reason)


@pytest.mark.parametrize(
    ('entry', 'message'),
    [
        ('motor_fault:C', 'tier C always needs an operator'),
        ('flying:A', "unknown kind 'flying'"),
        ('low_battery', "tier '', expected A or B"),
    ],
)
def test_a_bad_auto_approval_entry_is_refused_with_why(entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AutoApproval.parse([entry], 0.9)


def test_critical_incidents_get_instant_answers_unless_a_mode_is_forced() -> None:
    assert choose_mode(Severity.CRITICAL, 'auto') == 'instant'
    assert choose_mode(Severity.WARNING, 'auto') == 'thinking'
    assert choose_mode(Severity.CRITICAL, 'thinking') == 'thinking'
    with pytest.raises(ValueError, match='expected one of'):
        choose_mode(Severity.ERROR, 'fast')


def test_an_incident_is_reasoned_about_when_it_changes_and_never_when_stale_or_closed() -> None:
    watch = IncidentWatch(max_attempts=2)
    update = IncidentUpdate('i', IncidentKind.PATH_BLOCKED, (), Severity.WARNING,
                            IncidentState.OPEN, 0, False)  # fmt: skip
    assert watch.wants(update)
    assert not watch.wants(update)  # the same again: nothing new
    assert watch.wants(replace(update, other_kinds=(IncidentKind.LOW_BATTERY,)))
    assert not watch.wants(replace(update, stale=True, severity=Severity.ERROR))
    assert not watch.wants(replace(update, state=IncidentState.EXECUTING))
    failed = replace(update, state=IncidentState.FAILED, attempts=1)
    assert watch.wants(failed) and not watch.must_ask(failed)
    assert watch.must_ask(replace(failed, attempts=2))
    assert not watch.wants(replace(update, state=IncidentState.RESOLVED))
    assert watch.wants(update)  # forgotten once closed: a reopened id is new


def test_a_doubtful_proposal_is_looked_at_again_as_its_incident_updates() -> None:
    watch = IncidentWatch(recheck=2.0)
    update = IncidentUpdate('i', IncidentKind.LOW_BATTERY, (), Severity.WARNING,
                            IncidentState.OPEN, 0, False)  # fmt: skip
    assert watch.wants(update, now=0.0)
    watch.proposed('i', unsettled=True, now=0.0)
    proposed = replace(update, state=IncidentState.PROPOSED)
    assert not watch.wants(proposed, now=1.0)  # not more often than every recheck seconds
    assert watch.wants(proposed, now=2.5)
    watch.proposed('i', unsettled=False, now=2.5)  # sure now: no more rechecks
    assert not watch.wants(proposed, now=10.0)


def test_a_doubtful_reading_or_a_missing_prediction_leaves_a_proposal_unsettled() -> None:
    assert unsettled(_proposal(generator='sop/operator'), simulating=True) == (
        'the reading was doubtful'
    )
    assert 'not simulated' in unsettled(_proposal(verdict=None), simulating=True)
    # Without a simulator no plan is ever predicted: that is no reason to look again.
    assert unsettled(_proposal(verdict=None), simulating=False) == ''
    assert unsettled(_proposal(), simulating=True) == ''
    assert unsettled(_proposal(verdict=Verdict.FAILURE), simulating=True) == ''


def test_a_cause_that_joins_a_proposed_incident_is_reasoned_about_afresh() -> None:
    # A blocked path waits for its plan's approval; a person steps in and joins the incident.
    watch = IncidentWatch()
    update = IncidentUpdate('i', IncidentKind.PATH_BLOCKED, (), Severity.WARNING,
                            IncidentState.OPEN, 0, False)  # fmt: skip
    assert watch.wants(update, now=0.0)
    watch.proposed('i', unsettled=False, now=0.0)
    proposed = replace(update, state=IncidentState.PROPOSED)
    assert not watch.wants(proposed, now=5.0)  # its own proposal's update: nothing new
    person = replace(proposed, kind=IncidentKind.PERSON_IN_ZONE, severity=Severity.CRITICAL,
                     other_kinds=(IncidentKind.PATH_BLOCKED,))  # fmt: skip
    assert watch.wants(person, now=6.0)
    assert not watch.wants(person, now=7.0)
    assert watch.wants(proposed, now=20.0)  # the person left: the blocked path again


def test_approvals_made_while_a_plan_runs_wait_oldest_first_one_per_incident() -> None:
    def plan(plan_id: str, incident_id: str) -> Plan:
        return Plan(plan_id, incident_id, (Step(int(Skill.STOP)),), int(Tier.A), False)

    approved = ApprovedPlans()
    approved.wait('i1', plan('p1', 'i1'), 'alice')
    approved.wait('i2', plan('p2', 'i2'), 'bob')
    approved.wait('i3', plan('p3', 'i3'), 'carol')
    approved.wait('i1', plan('p1b', 'i1'), 'alice')  # a newer approval for i1 replaces its older
    assert len(approved) == 3
    standing = {'p2', 'p1b'}  # i3's proposal was replaced since carol approved p3

    def still_proposed(incident_id: str, candidate: Plan) -> bool:
        return candidate.id in standing

    first, dropped = approved.next(still_proposed)
    assert first is not None and first[1].id == 'p2' and first[2] == 'bob' and dropped == []
    second, dropped = approved.next(still_proposed)
    assert dropped == ["approval of 'p3' by carol: a newer proposal replaced it"]
    assert second is not None and second[1].id == 'p1b'
    assert approved.next(still_proposed) == (None, []) and len(approved) == 0
