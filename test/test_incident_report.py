"""Incident reports: from a real recording (``muse-supervisor report``) and the renderer itself.

The recording is written by the real recorder with the package's messages, as the perception
node writes it; the report must hold the incident's story: the key frame, the evidence (world
text escaped and marked untrusted), the plans with their predictions, who decided, how the
execution ended, and whether it was verified.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
from test_recorder import FakeClock, _story

from muse_supervisor.cli import main
from muse_supervisor.hmi.report import IncidentReport, _jpeg_size, collect, render
from muse_supervisor.msg import OperatorAction
from muse_supervisor.recording import IncidentRecorder

INJECTION = '<script>window.pwned=1</script>'


def _recording(tmp_path: Path) -> Path:
    with IncidentRecorder(tmp_path / 'rec', namespace='robot_1', clock=FakeClock()) as recorder:
        _story(recorder)
        action = OperatorAction(
            operator_id='op_7', role='operator', action='assign', incident_id='robot_1/0001',
            accepted=True, message='assigned', reason=INJECTION,
        )  # fmt: skip
        recorder.record_action(action)
    return recorder.files[0]


def test_report_writes_the_incidents_story_from_a_recording(tmp_path: Path, capsys: Any) -> None:
    recording = _recording(tmp_path)
    assert main(['report', str(recording), '--out', str(tmp_path / 'out')]) == 0
    written = capsys.readouterr().out.split()
    page = (tmp_path / 'out' / 'robot_1_0001.html').read_text()
    assert str(tmp_path / 'out' / 'index.html') in written
    assert 'camera_fault' in page and 'resolved' in page
    assert 'Verified: the raising condition was seen cleared' in page
    assert 'data:image/jpeg;base64,' in page  # the key frame, inline
    assert 'untrusted text: the camera sees nothing' in page
    assert 'plan-1' in page and 'wait for the light' in page
    assert 'op_7' in page and 'approve' in page and 'looks safe' in page  # the decision
    assert 'plan plan-1 succeeded, 1 of 1 steps' in page  # the outcome
    assert 'assign' in page  # the audit entry about the robot ...
    assert INJECTION not in page and '&lt;script&gt;' in page  # ... its reason escaped
    assert 'op_7' in page  # the acknowledging operator in the lifecycle table


def test_report_refuses_an_unknown_incident_and_a_file_that_is_no_recording(
    tmp_path: Path, capsys: Any
) -> None:
    recording = _recording(tmp_path)
    assert main(['report', str(recording), '--incident', 'nope']) == 2
    assert "has no incident 'nope'" in capsys.readouterr().err
    junk = tmp_path / 'junk.mcap'
    junk.write_bytes(b'not an mcap file at all')
    assert main(['report', str(junk)]) == 2
    assert 'junk.mcap' in capsys.readouterr().err


def test_the_renderer_escapes_world_text_and_draws_the_predicted_paths() -> None:
    incident = {
        'id': 'r/1', 'robot_id': '/r', 'kind': 'path_blocked', 'severity': 'error',
        'state': 'executing', 'state_reason': '', 'opened': 1000.0, 'summary': INJECTION,
        'evidence_total': 1, 'transitions': [],
        'evidence': [{'source': 'camera', 'signal': 'text.read', 'trusted': False,
                      'summary': INJECTION, 'stamp': 1000.0, 'producer': 'ocr', 'data_ref': 'f@1',
                      'attributes': {'box': '[[1, 2], [30, 20]]'}}],
    }  # fmt: skip
    plan = {
        'id': 'p1', 'digest': 'ab' * 32, 'tier': 'B', 'requires_approval': True,
        'rationale': INJECTION, 'sources': ['SOP-PB-01'], 'confidence': 0.8, 'risk': 0.1,
        'steps': [{'skill': 'reroute', 'args': {'radius': '1'}}],
        'evaluation': {'outcome': 'success', 'success_probability': 0.9, 'duration_s': 3.0,
                       'distance': 2.0, 'findings': [], 'path': [[0.0, 0.0], [1.0, 1.0]]},
    }  # fmt: skip
    proposal = {'incident_id': 'r/1', 'kind': 'path_blocked', 'confidence': 0.8,
                'mode': 'instant', 'backend': 'sop', 'plans': [plan]}  # fmt: skip
    ok, jpeg = cv2.imencode('.jpg', np.zeros((48, 64, 3), np.uint8))
    assert ok and _jpeg_size(jpeg.tobytes()) == (64, 48)
    reports = collect([('incident', incident), ('proposal', proposal)], {'f@1': jpeg.tobytes()})
    report = reports['r/1']
    assert isinstance(report, IncidentReport) and report.frame == jpeg.tobytes()
    world = {'width': 100, 'height': 50, 'resolution': 0.1, 'origin': [0.0, 0.0],
             'places': [], 'zones': []}  # fmt: skip
    page = render(report, world)
    assert INJECTION not in page and '&lt;script&gt;window.pwned=1&lt;/script&gt;' in page
    assert 'Not verified yet (still executing)' in page
    assert '<polyline class="best" points="0.0,50.0 10.0,40.0"/>' in page  # world to pixels
    assert 'viewBox="0 0 64 48"' in page and 'text.read</text>' in page  # frame and its box
