"""The shared vocabulary (DOMAIN.md) as the code holds it."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from muse_supervisor.domain import SKILLS, IncidentKind, Skill, Tier, governing_kind

# DOMAIN.md's skill table: skill -> (tier, argument names).
DOMAIN_SKILLS = {
    'stop': ('A', ()),
    'wait': ('A', ('seconds',)),
    'slow_down': ('A', ('max_speed',)),
    'request_operator': ('A', ('message',)),
    'notify': ('A', ('role', 'message')),
    'capture_evidence': ('A', ('camera',)),
    'reverse': ('B', ('distance',)),
    'rotate': ('B', ('angle',)),
    'relocalize': ('B', ()),
    'navigate_to': ('B', ('target',)),
    'reroute': ('B', ('avoid', 'radius')),
    'dock': ('B', ('station',)),
    'retry_step': ('B', ()),
    'reset_fault': ('C', ('device',)),
    'resume_mission': ('C', ()),
}

DOMAIN_KINDS = {
    'person_in_zone', 'estop_active', 'path_blocked', 'spill_or_debris', 'camera_fault',
    'sensor_fault', 'low_battery', 'motor_fault', 'localization_lost', 'docking_failed',
    'payload_mismatch', 'mission_timeout', 'comms_loss', 'unknown',
}  # fmt: skip


def test_skill_table_matches_domain() -> None:
    table = {
        spec.name: (spec.tier.name, tuple(arg.name for arg in spec.arguments))
        for spec in SKILLS.values()
    }
    assert table == DOMAIN_SKILLS
    assert set(SKILLS) == set(Skill)


def test_incident_kinds_match_domain() -> None:
    assert {kind.name.lower() for kind in IncidentKind} == DOMAIN_KINDS


def test_tier_a_never_moves_and_only_reset_and_resume_are_tier_c() -> None:
    for spec in SKILLS.values():
        if spec.tier is Tier.A:
            assert not spec.moves_robot, spec.name
    assert {s.name for s in SKILLS.values() if s.tier is Tier.C} == {
        'reset_fault',
        'resume_mission',
    }


def test_numeric_arguments_have_finite_bounds() -> None:
    for spec in SKILLS.values():
        for arg in spec.arguments:
            if arg.minimum != -math.inf or arg.maximum != math.inf:
                assert math.isfinite(arg.minimum) and math.isfinite(arg.maximum)
                assert arg.minimum < arg.maximum


@given(st.sets(st.sampled_from(list(IncidentKind))))
def test_person_then_estop_govern_whatever_else_is_present(kinds: set[IncidentKind]) -> None:
    governing = governing_kind(kinds)
    if IncidentKind.PERSON_IN_ZONE in kinds:
        assert governing is IncidentKind.PERSON_IN_ZONE
    elif IncidentKind.ESTOP_ACTIVE in kinds:
        assert governing is IncidentKind.ESTOP_ACTIVE
    elif kinds - {IncidentKind.UNKNOWN}:
        assert governing is not IncidentKind.UNKNOWN and governing in kinds
    else:
        assert governing is IncidentKind.UNKNOWN
