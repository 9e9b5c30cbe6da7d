"""Incident snapshots as messages: provenance kept, and large incidents sent in a bounded size."""

from __future__ import annotations

from muse_supervisor.domain import (
    EvidenceSource,
    IncidentKind,
    IncidentSnapshot,
    IncidentState,
    Observation,
    Severity,
)
from muse_supervisor.msg import Evidence
from muse_supervisor.nodes.incident_messages import incident_list_msg, incident_msg


def _snapshot(pieces: int) -> IncidentSnapshot:
    evidence = tuple(
        Observation(
            'alarm.raised', EvidenceSource.ALARM, 'alarms', 'alarm_rules', f'alarm {i}', 10.0 + i,
            trusted=False, untrusted=('text',), attributes=(('text', f'reading {i}'),),
        )
        for i in range(pieces)
    )  # fmt: skip
    return IncidentSnapshot(
        id='robot_1/0001', robot_id='robot_1', dedup_key='motor_fault:drive_left',
        kind=IncidentKind.MOTOR_FAULT, other_kinds=(IncidentKind.PATH_BLOCKED,),
        severity=Severity.ERROR, state=IncidentState.OPEN, opened=10.0, updated=12.5,
        confidence=0.9, summary='motor fault', evidence=evidence,
    )  # fmt: skip


def test_every_field_and_the_provenance_of_evidence_cross_over() -> None:
    msg = incident_msg(_snapshot(2), {('alarms', 11.0): 'incident_frames@11000000000'})
    assert (msg.id, msg.kind, list(msg.other_kinds), msg.severity) == (
        'robot_1/0001', IncidentKind.MOTOR_FAULT, [IncidentKind.PATH_BLOCKED], Severity.ERROR
    )  # fmt: skip
    assert msg.header.stamp.sec == 12 and msg.opened.sec == 10 and msg.evidence_total == 2
    first, second = msg.evidence
    assert first.source == Evidence.SOURCE_ALARM and not first.trusted
    assert (
        list(first.untrusted_attributes) == ['text'] and first.attributes[0].value == 'reading 0'
    )
    assert (first.data_ref, second.data_ref) == ('', 'incident_frames@11000000000')


def test_a_large_incident_carries_its_first_and_newest_evidence_and_says_how_many() -> None:
    msg = incident_msg(_snapshot(200), evidence_limit=32)
    assert msg.evidence_total == 200 and len(msg.evidence) == 32
    summaries = [e.summary for e in msg.evidence]
    assert summaries[0] == 'alarm 0' and summaries[1:] == [f'alarm {i}' for i in range(169, 200)]
    assert len(incident_msg(_snapshot(5), evidence_limit=32).evidence) == 5
    [listed] = incident_list_msg('robot_1', [_snapshot(200)], 13.0, evidence_limit=8).incidents
    assert len(listed.evidence) == 8 and listed.evidence_total == 200
