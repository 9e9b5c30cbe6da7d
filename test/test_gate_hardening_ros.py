"""The gate hardening over real ROS 2: each behaviour that crosses a process boundary.

Restart under an engaged e-stop (latched and periodic publishers), an impostor named like the
gate, goals sent back to back, approvals bound to a digest and used once, and the gate under
``use_sim_time`` when ``/clock`` stops. Each failed on the gate before the fix.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gate_harness import (
    Robot,
    running_gate,
    start_gate,
    start_peer,
    stop_process,
    wait_for,
)

from muse_supervisor.action import ExecutePlan
from muse_supervisor.msg import GateStatus, PlanStep, RecoveryPlan, RecoveryProposal, SkillArgument
from muse_supervisor.msg import StopReason as StopReasonMsg
from muse_supervisor.nodes.conversions import plan_from_msg
from muse_supervisor.srv import ApprovePlan

pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture
def namespace() -> str:
    return f'/gate_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def robot(ros_context: Any, namespace: str) -> Iterator[Robot]:
    with running_gate(ros_context, namespace) as robot:
        yield robot


def _causes(robot: Robot) -> set[int]:
    return {r.cause for r in robot.status().stop_reasons}


@pytest.mark.parametrize('rate', ['0', '10'], ids=['latched', 'periodic'])
def test_a_gate_started_under_an_engaged_estop_does_not_move(
    ros_context: Any, namespace: str, rate: str
) -> None:
    """Fails before the fix: the volatile subscription missed the latched e-stop, and a gate
    that had heard nothing forwarded motion."""
    estop = start_peer('bool', f'{namespace}/estop', 'true', rate)
    gate = start_gate(namespace)
    robot = Robot(ros_context, namespace, estop=None)  # this robot says nothing about its e-stop
    try:
        wait_for(robot.status, what='first gate status')
        robot.drive(0.3)
        wait_for(lambda: StopReasonMsg.CAUSE_ESTOP in _causes(robot), what='e-stop cause')
        start = time.monotonic()
        time.sleep(1.0)
        robot.assert_zeros_at_rate(start, time.monotonic())
        wait_for(lambda: robot.status().state == GateStatus.STATE_LATCHED, what='latched')
        assert robot.status().estop_engaged and robot.status().reset_required
    finally:
        stop_process(estop)
        robot.close()
        stop_process(gate)


def test_an_estop_never_heard_holds_the_robot_until_it_is(
    ros_context: Any, namespace: str
) -> None:
    gate = start_gate(namespace)
    robot = Robot(ros_context, namespace, estop=None)
    try:
        wait_for(robot.status, what='first gate status')
        robot.drive(0.3)
        time.sleep(1.0)
        assert not robot.moving()
        detail = next(
            r.detail for r in robot.status().stop_reasons if r.cause == StopReasonMsg.CAUSE_ESTOP
        )
        assert 'not heard' in detail
        assert robot.status().estop_engaged and not robot.status().reset_required
        robot.estop(False)  # heard, released: no reset needed
        wait_for(robot.moving, what='motion once the e-stop is heard released')
    finally:
        robot.close()
        stop_process(gate)


def test_an_impostor_named_like_the_gate_is_caught(robot: Robot, namespace: str) -> None:
    """Fails before the fix: the guard compared node names, so this published unnoticed."""
    robot.drive(0.3)
    wait_for(robot.moving, what='gate forwarding motion')
    impostor = start_peer(
        '--node-name', f'{namespace}/safety_gate', 'twist', f'{namespace}/cmd_vel', '1.0', '20'
    )
    try:
        wait_for(
            lambda: (
                robot.status().state == GateStatus.STATE_LATCHED
                and StopReasonMsg.CAUSE_ROGUE_PUBLISHER in _causes(robot)
            ),
            timeout=10.0,
            what='latched on the impostor',
        )
        # DDS can show the endpoint before its node's name; the alarm names it once known.
        wait_for(
            lambda: [a for a in robot.alarms if "under the gate's own name" in a.text],
            timeout=10.0,
            what='an alarm naming the second publisher under the gate name',
        )
    finally:
        stop_process(impostor)


def _wait_plan(seconds: float, plan_id: str) -> RecoveryPlan:
    step = PlanStep(
        skill=PlanStep.SKILL_WAIT,
        arguments=[SkillArgument(name='seconds', type=SkillArgument.TYPE_NUMBER, number=seconds)],
    )
    return RecoveryPlan(id=plan_id, incident_id='inc-1', steps=[step], tier=RecoveryPlan.TIER_A)


def test_goals_sent_back_to_back_run_one_plan_and_refuse_the_other_with_a_reason(
    robot: Robot,
) -> None:
    """Fails before the fix: the second goal could be accepted before the first took the slot."""
    client = robot.plan_client
    assert client.wait_for_server(timeout_sec=20)
    sent = [
        client.send_goal_async(ExecutePlan.Goal(plan=_wait_plan(1.0, f'plan-{i}')))
        for i in range(2)
    ]
    goals = [wait_for(future.done, what='goal response') and future.result() for future in sent]
    results = [goal.get_result_async() for goal in goals]
    for result in results:
        wait_for(result.done, timeout=30, what='result')
    codes = sorted(result.result().result.error_code for result in results)
    assert codes == [ExecutePlan.Result.NONE, ExecutePlan.Result.BUSY], codes
    busy = next(r.result().result for r in results if r.result().result.error_code)
    assert "plan 'plan-0' is running" in busy.error_msg, busy.error_msg
    client.destroy()


def _approve(robot: Robot, plan: RecoveryPlan, digest: str | None = None) -> Any:
    request = ApprovePlan.Request(
        operator_id='op-3',
        plan_id=plan.id,
        plan_digest=plan_from_msg(plan).digest() if digest is None else digest,
        decision=ApprovePlan.Request.DECISION_APPROVE,
    )
    return robot.call(ApprovePlan, 'approve_plan', request)


def test_an_approval_names_the_digest_and_is_used_once(robot: Robot) -> None:
    """Fails before the fix: any digest (none existed) approved, and approvals were reusable."""
    plan = RecoveryPlan(
        id='plan-c', incident_id='inc-1', steps=[PlanStep(skill=PlanStep.SKILL_RESUME_MISSION)],
        tier=RecoveryPlan.TIER_C, requires_approval=True,
    )  # fmt: skip
    robot.proposal_pub.publish(RecoveryProposal(incident_id='inc-1', plans=[plan]))
    wrong = wait_for(
        lambda: (r := _approve(robot, plan, 'ab' * 32)) and 'unknown plan' not in r.message and r,
        what='the gate knowing the plan',
    )
    assert not wrong.accepted and 'ab' * 32 in wrong.message
    anonymous = ApprovePlan.Request(
        plan_id=plan.id, plan_digest=plan_from_msg(plan).digest(),
        decision=ApprovePlan.Request.DECISION_APPROVE,
    )  # fmt: skip
    refused = robot.call(ApprovePlan, 'approve_plan', anonymous)
    assert not refused.accepted and 'operator' in refused.message
    assert _approve(robot, plan).accepted
    first = robot.execute_plan(plan).response.result
    assert first.error_code == ExecutePlan.Result.NONE, first.error_msg
    again = robot.execute_plan(plan).response.result
    assert again.error_code == ExecutePlan.Result.APPROVAL_REQUIRED
    assert 'single-use' in again.error_msg, again.error_msg
    assert robot.triggered == ['resume_mission']


def test_under_sim_time_a_stopped_clock_stops_the_robot(ros_context: Any, namespace: str) -> None:
    """Fails before the fix: the output timer followed no clock rule; with /clock stopped the
    gate never saw anything go stale."""
    clock = start_peer('clock', '/clock', '100')
    gate = start_gate(namespace, 'use_sim_time:=true')
    robot = Robot(ros_context, namespace, use_sim_time=True)
    try:
        wait_for(robot.status, what='first gate status')
        robot.drive(0.3)
        wait_for(robot.moving, what='motion on sim time')
        os.kill(clock.pid, signal.SIGKILL)
        stopped = time.monotonic()
        clock.wait(timeout=5)
        zero = wait_for(lambda: robot.first_zero_after(stopped), what='zero once /clock stops')
        assert zero.t - stopped <= 0.5 + 0.05 + 0.5  # clock_timeout + one period + slack
        wait_for(
            lambda: StopReasonMsg.CAUSE_CLOCK_STALE in _causes(robot), what='clock stale cause'
        )
        start = time.monotonic()
        time.sleep(0.5)
        robot.assert_zeros_at_rate(start, time.monotonic())  # the steady timer keeps going
    finally:
        stop_process(clock)
        robot.close()
        stop_process(gate)
