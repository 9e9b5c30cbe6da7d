"""``muse-supervisor demo --auto-approve`` over real processes, on a shortened shift.

The whole stack, the web HMI and the demo's monitor run as they do for a user; the shift is cut
to a fallen pallet and a picker stepping into the zone, so the run takes about a minute after
start-up. The demo must finish with its summary table, every incident verified resolved, see no
invariant violation on the gate's output, reset the latched stop through the HMI as its operator
once the picker has left (the audit trail says who), and leave a recording with the incidents
and a report for each.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]
from browser_harness import free_port

from muse_supervisor.recording.reader import read_recording

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.prefix) / 'bin' / 'muse-supervisor'
SHORT_SHIFT = {'events': [
    {'at': 0, 'mission': {'mission_id': 'pick_0042', 'status': 'running', 'step_index': 1,
                          'step_count': 4, 'step_id': 'goto_aisle_1', 'step_budget': 600.0}},
    {'at': 3, 'obstacle': {'name': 'fallen_pallet', 'x': 1.3, 'y': 0.0, 'radius': 0.4}},
    {'at': 20, 'remove': 'fallen_pallet'},
    {'at': 25, 'person': {'name': 'picker', 'x': 0.9, 'y': 0.3, 'radius': 0.8}},
    {'at': 33, 'remove': 'picker'},
]}  # fmt: skip


def test_the_demo_plays_a_shift_and_ends_with_its_summary(tmp_path: Path) -> None:
    config = tmp_path / 'config'
    shutil.copytree(REPO / 'config', config)
    (config / 'scenarios' / 'demo_shift.yaml').write_text(yaml.safe_dump(SHORT_SHIFT))
    out = tmp_path / 'run'
    done = subprocess.run(
        [str(CLI), 'demo', '--auto-approve', '--config-dir', str(config), '--out', str(out),
         '--port', str(free_port()), '--duration', '55'],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report + (out / 'nodes.log').read_text()[-4000:]
    assert 'log in as "demo", secret ' in done.stdout  # the HMI's login, said at start
    table = done.stdout[done.stdout.index('\nincident  kind') :]
    assert 'path_blocked' in table and 'person_in_zone' in table, table
    assert 'invariant violations seen on cmd_vel: 0' in done.stdout
    # Every incident reaches its end state: verified resolved (the "expected end state"
    # for each cause of this shift), and the monitor's summary says the same.
    summary = json.loads((out / 'summary.json').read_text())
    ends = {i['id']: (i['kind'], i['end_state'], i['decided_by']) for i in summary['incidents']}
    assert ends and all(end == 'resolved' for _, end, _ in ends.values()), ends
    assert summary['violations'] == []
    assert summary['latency_s']['incident_to_proposal']['n'] == len(ends), summary['latency_s']
    assert 'gate reset by the demo operator through the HMI: gate: cleared' in done.stdout
    assert 'Traceback' not in report
    audit = [json.loads(line) for line in (out / 'hmi_audit.jsonl').read_text().splitlines()]
    assert any(a['actor'] == 'demo' and a['action'] == 'reset' and a['accepted'] for a in audit)
    (recording,) = sorted((out / 'recordings').rglob('*.mcap'))
    types = {m.type_name for m in read_recording(recording).messages}
    assert {'muse_supervisor/msg/Incident', 'muse_supervisor/msg/OperatorAction'} <= types
    pages = sorted((out / 'reports' / 'robot_1').glob('*.html'))
    assert len(pages) >= 3  # two incidents and the index
