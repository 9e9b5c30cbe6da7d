"""The reasoner node over ROS, against the real neighbours: simulated robot, perception, plan
simulator and, for the auto-approved recovery, the safety gate. Each node is its own process.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_harness import start_node, wait_for
from stack_watch import Watcher, start_perception, stop_all, write_timeline

from muse_supervisor.msg import Incident, PlanStep

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture
def namespace() -> str:
    return f'/reasoner_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def watcher(ros_context: Any, namespace: str) -> Iterator[Watcher]:
    watcher = Watcher(ros_context, namespace)
    try:
        yield watcher
    finally:
        watcher.close()


def test_an_alarm_gets_a_ranked_simulated_proposal_and_the_heartbeat_flows(
    watcher: Watcher, namespace: str, tmp_path: Path
) -> None:
    timeline = write_timeline(tmp_path, [{'at': 6.0, 'alarm': {
        'source': 'drive_left', 'code': 'E1042', 'severity': 'error',
        'text': 'Überstrom Antrieb links'}}])  # fmt: skip
    processes = [
        start_node('sim_world_node', namespace, 'sim_world.yaml', '-p', f'timeline:={timeline}',
                   '-p', 'camera_width:=160', '-p', 'camera_height:=120'),
        start_perception(namespace, tmp_path),
        start_node('plan_simulator_node', namespace, 'plan_simulator.yaml'),
        start_node('reasoner_node', namespace, 'reasoner.yaml'),
    ]  # fmt: skip
    try:
        wait_for(lambda: len(watcher.beats) >= 5, timeout=60, what='the reasoner heartbeat')
        proposal = wait_for(
            lambda: next((p for p in watcher.proposals if p.kind == Incident.KIND_MOTOR_FAULT),
                         None),
            timeout=60, what='a proposal for the drive alarm',
        )  # fmt: skip
        best = proposal.plans[0]
        assert best.steps[0].skill == PlanStep.SKILL_STOP
        assert best.sources and best.rationale and 0.0 < proposal.confidence <= 1.0
        assert len(proposal.evaluations) == len(proposal.plans)
        trace = json.loads(proposal.trace_json)
        assert {'sop', 'mission_state'} <= {entry['tool'] for entry in trace}
        assert proposal.backend == 'sop' and proposal.summary.startswith('What happened')
        incident = wait_for(
            lambda: (i := watcher.latest(proposal.incident_id)) is not None
            and i.state == Incident.STATE_PROPOSED and i,
            timeout=20, what='the incident marked proposed',
        )  # fmt: skip
        assert any(t.actor == 'reasoner' for t in incident.transitions)
    finally:
        output = stop_all(*processes)
    assert 'Traceback' not in output, output


def test_low_battery_is_recovered_end_to_end_by_policy_through_the_gate(
    watcher: Watcher, namespace: str, tmp_path: Path
) -> None:
    # Late enough that every node is up and the start-up odometry silence has cleared; just
    # under the 20 % at which the simulated battery's diagnostic warns, so that ten seconds on
    # the charger clear it (the incident is verified when every cause is seen cleared).
    timeline = write_timeline(tmp_path, [{'at': 20.0, 'battery': {'percentage': 0.195}}])
    processes = [
        start_node('sim_world_node', namespace, 'sim_world.yaml', '-p', f'timeline:={timeline}',
                   '-p', 'start:=staging', '-p', 'camera_width:=160',
                   '-p', 'camera_height:=120'),
        # The floor analyzer reads the shelf ends in view from staging as an obstructed
        # corridor, and a blocked path would govern; the camera is not what this test is about.
        start_perception(namespace, tmp_path, '-p', 'floor_rate_hz:=0.0'),
        start_node('plan_simulator_node', namespace, 'plan_simulator.yaml'),
        start_node('safety_gate_node', namespace, 'safety_gate.yaml'),
        start_node('reasoner_node', namespace, 'reasoner.yaml',
                   '-p', 'auto_approve:=low_battery:B', '-p', 'auto_approve_confidence:=0.8'),
    ]  # fmt: skip
    output = ''
    try:
        # The battery's diagnostic can reach perception before the battery reading reaches the
        # reasoner: its first proposal may then ask a person (a doubtful reading), and it looks
        # again as the evidence arrives.
        proposal = wait_for(
            lambda: next((p for p in watcher.proposals if p.kind == Incident.KIND_LOW_BATTERY
                          and p.plans[0].steps[0].skill == PlanStep.SKILL_NAVIGATE_TO), None),
            timeout=90, what='a proposal to drive to the charger for the low battery',
        )  # fmt: skip
        best = proposal.plans[0]
        assert [s.skill for s in best.steps][:2] == [PlanStep.SKILL_NAVIGATE_TO,
                                                      PlanStep.SKILL_DOCK]  # fmt: skip
        assert best.steps[0].arguments[0].text == 'charger_1'
        resolved = wait_for(
            lambda: (i := watcher.latest(proposal.incident_id)) is not None
            and i.state == Incident.STATE_RESOLVED and i,
            timeout=120, what='the low-battery incident resolved (verified)',
        )  # fmt: skip
        actors = [(t.to_state, t.actor) for t in resolved.transitions]
        assert (Incident.STATE_APPROVED, 'policy') in actors
        assert any(state == Incident.STATE_EXECUTING for state, _ in actors)
    except TimeoutError as error:
        output = stop_all(*processes)
        raise AssertionError(f'{error}\n{watcher.story(output)}') from error
    finally:
        output = output or stop_all(*processes)
    assert 'Traceback' not in output, output
