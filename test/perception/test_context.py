"""The context bundle: key frames, alarm window, mission, logs, evidence with provenance, and a
JSON round trip that gives back the same bundle (the scenario-file path)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from muse_supervisor.domain import EvidenceSource, MissionStatus, Observation, Severity
from muse_supervisor.perception.alarms import Alarm, LogLine
from muse_supervisor.perception.context import ContextBundle, ContextSettings
from muse_supervisor.perception.core import PerceptionCore
from muse_supervisor.perception.rules import load_rules
from muse_supervisor.perception.signals import MissionSnapshot


def _frame(signal: str, stamp: float, active: bool = True, **attributes: str) -> Observation:
    return Observation(
        signal=signal,
        source=EvidenceSource.CAMERA,
        topic='camera/image_raw',
        producer='vision:test',
        summary=f'{signal} at {stamp:.1f}',
        stamp=stamp,
        confidence=0.8,
        active=active,
        data_ref=f'mcap://run-1#frame={round(stamp * 10)}',
        attributes=tuple(attributes.items()),
    )


def _scene() -> tuple[PerceptionCore, str]:
    """A floor spill seen for 6 s at 10 Hz, an old and a recent alarm, logs, a mission."""
    core = PerceptionCore(load_rules(), 'robot_1', ContextSettings(window=30.0, log_lines=5))
    core.on_alarm(
        Alarm('dock_3', 'CHARGER_NOT_DETECTED', Severity.WARNING, True, 'x', (), 1.0), 1.0
    )
    core.on_alarm(
        Alarm('dock_3', 'CHARGER_NOT_DETECTED', Severity.WARNING, False, '', (), 2.0), 2.0
    )
    core.on_mission(
        MissionSnapshot(
            'm-9',
            MissionStatus.RUNNING,
            1,
            4,
            'goto_aisle_3',
            'drive to aisle 3',
            12.0,
            60.0,
            'TOTE-17',
            stamp=99.0,
        ),
        99.0,
    )
    for i in range(12):
        core.on_log(LogLine(20, 'controller_server', f'progress {i}', 95.0 + i), 95.0 + i)
    for i in range(60):
        stamp = 100.0 + i / 10
        core.on_observation(_frame('floor.anomaly', stamp), stamp)
    core.on_alarm(
        Alarm(
            'drive_left', 'OVERCURRENT', Severity.CRITICAL, True, 'MOTOR 2 OVERCURRENT', (), 104.0
        ),
        104.0,
    )
    [incident] = core.tracker.incidents(106.0)
    return core, incident.id


def test_key_frames_are_the_first_each_severity_change_and_the_latest_not_every_frame() -> None:
    core, incident_id = _scene()
    bundle = core.context(incident_id, 106.0)
    incident = bundle.incident
    assert [s for _, s in incident.severity_history] == [Severity.ERROR, Severity.CRITICAL]
    frames = bundle.key_frames
    assert 2 <= len(frames) <= 3 < 60
    assert frames[0].reasons[0] == 'first'
    assert frames[0].stamp >= incident.opened
    assert 'latest' in frames[-1].reasons
    assert frames[-1].stamp == pytest.approx(105.9)
    change = [f for f in frames if 'severity critical' in f.reasons]
    assert len(change) == 1
    assert change[0].stamp >= 104.0
    assert all(f.data_ref.startswith('mcap://run-1#frame=') for f in frames)


def test_alarm_window_logs_mission_and_evidence_provenance() -> None:
    core, incident_id = _scene()
    bundle = core.context(incident_id, 106.0)
    # window 30 s before the incident opened: the dock alarm at 1-2 s is outside it.
    assert [o.attribute('key') for o in bundle.alarm_window] == ['alarm:drive_left/OVERCURRENT']
    assert [line.msg for line in bundle.log_lines] == [f'progress {i}' for i in range(7, 12)]
    assert bundle.mission is not None
    assert bundle.mission.step_id == 'goto_aisle_3'
    record = bundle.to_dict()
    sources = {e['source'] for e in record['evidence']}
    assert sources == {'camera', 'alarm'}
    for evidence in record['evidence']:
        assert {'source', 'topic', 'stamp', 'confidence', 'trusted'} <= set(evidence)
    alarm = next(e for e in record['evidence'] if e['source'] == 'alarm')
    assert alarm['trusted'] is False
    assert 'text' in alarm['untrusted']


def test_the_bundle_survives_a_json_round_trip_unchanged() -> None:
    core, incident_id = _scene()
    core.tracker.acknowledge(incident_id, 'op-3', 106.5)
    bundle = core.context(incident_id, 107.0)
    text = json.dumps(bundle.to_dict())
    again = ContextBundle.from_dict(json.loads(text))
    assert again == bundle
    assert again.to_dict() == bundle.to_dict()
    assert again.incident.transitions[-1].actor == 'op-3'


def test_a_bundle_without_camera_or_mission_still_round_trips() -> None:
    core = PerceptionCore(load_rules(), 'robot_2')
    [incident] = core.on_log(
        LogLine(
            40,
            'amcl',
            'AMCL cannot publish a pose or update the transform. Please set the initial pose...',
            3.0,
        ),
        3.0,
    )
    bundle = core.context(incident.id, 4.0)
    assert bundle.key_frames == ()
    assert bundle.mission is None
    assert ContextBundle.from_dict(json.loads(json.dumps(bundle.to_dict()))) == bundle


@pytest.mark.parametrize(
    ('change', 'message'),
    [
        ({'format': 'other'}, "not a context bundle: format 'other'"),
        ({'version': 99}, 'version 99; this reader reads version 1'),
        ({'built_at': None}, 'missing or invalid field'),
    ],
)
def test_reading_a_wrong_file_says_what_is_wrong(change: dict[str, Any], message: str) -> None:
    core, incident_id = _scene()
    record = core.context(incident_id, 106.0).to_dict()
    record.update(change)
    if change.get('built_at', 0) is None:
        del record['built_at']
    with pytest.raises(ValueError, match=message):
        ContextBundle.from_dict(record)


def test_frames_without_a_data_ref_are_referenced_by_topic_and_stamp() -> None:
    core = PerceptionCore(load_rules(), 'robot_3')
    for i in range(30):
        stamp = 10.0 + i / 10
        frame = Observation(
            'image.dark', EvidenceSource.CAMERA, 'camera/front', 'vision:test', 'dark', stamp
        )
        core.on_observation(frame, stamp)
    [incident] = core.tracker.incidents(13.0)
    frames = core.context(incident.id, 13.0).key_frames
    assert frames
    assert all(f.data_ref.startswith('camera/front@') for f in frames)
    assert frames[-1].data_ref == 'camera/front@12.900000000'
