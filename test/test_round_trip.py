"""Cross-process round trips over real ROS 2 with the package's own types.

The peer runs in a separate process (test/peers/interface_peer.py): a publish/subscribe of an
Incident with evidence, ApprovePlan calls, and ExecutePlan goals with feedback, result and cancel.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muse_supervisor.action import ExecutePlan
from muse_supervisor.msg import Evidence, Incident, PlanStep, RecoveryPlan, SkillArgument
from muse_supervisor.srv import ApprovePlan

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PEER = Path(__file__).parent / 'peers' / 'interface_peer.py'
TIMEOUT = 20.0  # generous: discovery on a loaded 2-core machine


def _wait(condition: Any, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f'condition not met within {timeout} s')
        time.sleep(0.01)


# A namespace of this module's own: no other test's nodes share these names.
NAMESPACE = f'/round_trip_{uuid.uuid4().hex[:8]}'


@pytest.fixture(scope='module')
def peer() -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, str(PEER), '--ros-args', '-r', f'__ns:={NAMESPACE}'],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == 'READY'
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a test peer, not the product: do not fail on it
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def client_node(peer: subprocess.Popen[str], ros_context: Any) -> Iterator[Any]:
    """A spinning node; its ``execute_plan`` action client is made before it spins.

    rclpy 9 (Kilted) adds an ActionClient to its node before the client has its lock, so one
    made while another thread spins the node can kill that thread.
    """
    from rclpy.action import ActionClient
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.node import Node

    node = Node('round_trip_client', namespace=NAMESPACE, context=ros_context)
    node.execute_plan_client = ActionClient(node, ExecutePlan, 'execute_plan')
    executor = MultiThreadedExecutor(context=ros_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown()
        thread.join(timeout=5)
        node.destroy_node()


def _plan(*steps: PlanStep) -> RecoveryPlan:
    return RecoveryPlan(id='plan-7', incident_id='inc-7', steps=list(steps), tier=1)


def _wait_step(seconds: float) -> PlanStep:
    argument = SkillArgument(name='seconds', type=SkillArgument.TYPE_NUMBER, number=seconds)
    return PlanStep(skill=PlanStep.SKILL_WAIT, arguments=[argument])


def test_incident_with_evidence_crosses_processes_intact(client_node: Any) -> None:
    received: list[Incident] = []
    client_node.create_subscription(Incident, 'incident_echo', received.append, 10)
    publisher = client_node.create_publisher(Incident, 'incident', 10)
    incident = Incident(
        id='robot_1/0042',
        kind=Incident.KIND_SPILL_OR_DEBRIS,
        severity=Incident.SEVERITY_ERROR,
        summary='liquid on the floor in aisle 4',
        evidence=[
            Evidence(source=Evidence.SOURCE_CAMERA, producer='detector:test', confidence=0.5)
        ],
    )
    # Publish until the echo arrives: discovery between processes takes a moment.
    deadline = time.monotonic() + TIMEOUT
    while not received and time.monotonic() < deadline:
        publisher.publish(incident)
        time.sleep(0.1)
    assert received and received[0] == incident


def test_approve_plan_carries_every_field_across_processes(client_node: Any) -> None:
    """The interface only: the gate's rules on decisions are tested against the gate itself
    (test_safety_gate_ros.py, test_gate_hardening_ros.py)."""
    client = client_node.create_client(ApprovePlan, 'approve_plan')
    assert client.wait_for_service(timeout_sec=TIMEOUT)

    def call(**fields: Any) -> ApprovePlan.Response:
        future = client.call_async(ApprovePlan.Request(**fields))
        _wait(future.done)
        return future.result()

    approved = call(
        operator_id='op-7',
        plan_id='plan-1',
        plan_digest='9f' * 32,
        decision=ApprovePlan.Request.DECISION_APPROVE,
        reason='aisle checked on camera',
    )
    assert approved.accepted
    assert approved.message == f'op-7 plan-1 {"9f" * 32} 1 aisle checked on camera'
    assert approved.recorded_at.sec > 0


def _send(client_node: Any, plan: RecoveryPlan) -> tuple[Any, list[Any]]:
    client = client_node.execute_plan_client
    assert client.wait_for_server(timeout_sec=TIMEOUT)
    feedback: list[Any] = []
    future = client.send_goal_async(
        ExecutePlan.Goal(plan=plan), feedback_callback=lambda msg: feedback.append(msg.feedback)
    )
    _wait(future.done)
    goal_handle = future.result()
    assert goal_handle.accepted
    return goal_handle, feedback


def test_execute_plan_reports_feedback_per_step_and_a_result(client_node: Any) -> None:
    from action_msgs.msg import GoalStatus

    plan = _plan(PlanStep(skill=PlanStep.SKILL_STOP), _wait_step(0.2), _wait_step(0.1))
    goal_handle, feedback = _send(client_node, plan)
    result_future = goal_handle.get_result_async()
    _wait(result_future.done)
    response = result_future.result()
    assert response.status == GoalStatus.STATUS_SUCCEEDED
    assert response.result.error_code == ExecutePlan.Result.NONE
    assert response.result.steps_completed == 3
    _wait(lambda: len(feedback) == 6, timeout=5)
    assert [(f.step_index, f.step_state) for f in feedback] == [
        (i, state)
        for i in range(3)
        for state in (ExecutePlan.Feedback.STEP_STARTED, ExecutePlan.Feedback.STEP_SUCCEEDED)
    ]
    assert feedback[2].step.arguments[0].number == 0.2


def test_execute_plan_cancel_ends_the_goal_as_canceled(client_node: Any) -> None:
    from action_msgs.msg import GoalStatus

    goal_handle, feedback = _send(client_node, _plan(_wait_step(30.0), _wait_step(1.0)))
    _wait(lambda: bool(feedback))
    cancel = goal_handle.cancel_goal_async()
    _wait(cancel.done)
    assert len(cancel.result().goals_canceling) == 1
    result_future = goal_handle.get_result_async()
    _wait(result_future.done, timeout=10)  # well before the 30 s step would end
    response = result_future.result()
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.error_code == ExecutePlan.Result.CANCELED
    assert response.result.steps_completed == 0
