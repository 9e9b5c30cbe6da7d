"""Incident updates: changes that matter at once, repeated evidence at most once a period."""

from __future__ import annotations

from dataclasses import replace

from muse_supervisor.domain import IncidentKind, IncidentSnapshot, IncidentState, Severity
from muse_supervisor.perception.publishing import UpdateThrottle


def _incident(
    summary: str = 'frozen: 5 frames', state: IncidentState = IncidentState.OPEN
) -> IncidentSnapshot:
    return IncidentSnapshot(
        id='robot_1/0001', robot_id='robot_1', dedup_key='camera_fault:image.frozen',
        kind=IncidentKind.CAMERA_FAULT, other_kinds=(), severity=Severity.WARNING, state=state,
        opened=0.0, updated=0.0, confidence=0.9, summary=summary,
    )  # fmt: skip


def test_repeated_evidence_is_coalesced_to_one_update_per_period_and_none_is_lost() -> None:
    throttle = UpdateThrottle(period=1.0)
    assert throttle.offer([_incident('frozen: 5 frames')], 0.0)  # the first goes out
    published = []
    for step in range(1, 25):  # a 10 Hz analyzer for 2.4 s, the summary changing each time
        now = step / 10
        published += throttle.offer([_incident(f'frozen: {5 + step} frames')], now)
        published += throttle.due(now)
    assert [s.summary for s in published] == ['frozen: 15 frames', 'frozen: 25 frames']
    # The last one is held, not dropped: it goes out once its period has passed.
    [late] = throttle.due(3.0)
    assert late.summary == 'frozen: 29 frames'
    assert throttle.due(4.0) == []


def test_a_change_that_matters_goes_out_at_once() -> None:
    throttle = UpdateThrottle(period=10.0)
    first = _incident()
    throttle.offer([first], 0.0)
    assert throttle.offer([replace(first, summary='6 frames')], 0.1) == []
    for changed in (
        replace(first, severity=Severity.ERROR),
        replace(first, stale=True),
        replace(first, other_kinds=(IncidentKind.PATH_BLOCKED,)),
        replace(first, acknowledged_by='op-7'),
        replace(first, state=IncidentState.RESOLVED),
    ):
        assert throttle.offer([changed], 0.2) == [changed]
        throttle.offer([first], 0.2)  # back to the first headline (sent at once too)
