"""The safety gate over real ROS 2, each actor in its own process where it crosses one.

The gate runs as ``safety_gate_node`` with the shipped parameters (20 Hz, 0.5 s source and
heartbeat timeouts). Deadlines are asserted where the deadline is the behaviour (zero within
timeout + one period), with slack for a loaded machine.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from gate_harness import (
    PEERS,
    TIMEOUT,
    Robot,
    running_gate,
    start_gate,
    start_peer,
    stop_process,
    wait_for,
)
from host_stalls import host_watch

from muse_supervisor.action import ExecutePlan
from muse_supervisor.msg import GateStatus, PlanStep, RecoveryPlan, RecoveryProposal, SkillArgument
from muse_supervisor.msg import StopReason as StopReasonMsg
from muse_supervisor.nodes.conversions import plan_from_msg
from muse_supervisor.srv import ApprovePlan

pytestmark = [pytest.mark.ros, pytest.mark.slow]

PERIOD = 0.05
SOURCE_TIMEOUT = 0.5
HEARTBEAT_TIMEOUT = 0.5
SLACK = 0.5  # scheduling and transport on a loaded 2-core machine
FLOOD_BOUND = 0.025  # s: see test_a_flood_on_odometry_does_not_delay_an_estop


@pytest.fixture
def namespace() -> str:
    return f'/gate_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def robot(ros_context: Any, namespace: str) -> Iterator[Robot]:
    with running_gate(ros_context, namespace) as robot:
        yield robot


def _drive_until_moving(robot: Robot, topic: str = 'cmd_vel_teleop') -> None:
    robot.drive(0.3, topic=topic)
    wait_for(robot.moving, what='gate forwarding motion')


def _kill(process: Any) -> float:
    os.kill(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    process.wait(timeout=5)
    return killed


def test_killing_a_command_source_gives_zero_within_timeout_plus_one_period(
    robot: Robot, namespace: str
) -> None:
    source = start_peer('twist', f'{namespace}/cmd_vel_nav', '0.3', '20')
    try:
        wait_for(robot.moving, what='gate forwarding the nav source')
        killed = _kill(source)
        zero = wait_for(lambda: robot.first_zero_after(killed), what='zero after the kill')
        assert zero.t - killed <= SOURCE_TIMEOUT + PERIOD + SLACK
        status = wait_for(lambda: robot.status().state == GateStatus.STATE_STOPPING)
        assert status
        causes = [r.cause for r in robot.status().stop_reasons]
        assert StopReasonMsg.CAUSE_SOURCE_STALE in causes
        # Never "hold last": nothing but zero while the source is gone, at the gate's rate.
        time.sleep(0.5)
        robot.assert_zeros_at_rate(zero.t, time.monotonic())
    finally:
        stop_process(source)


def test_killing_the_heartbeat_publisher_gives_zero_within_timeout_plus_one_period(
    robot: Robot, namespace: str
) -> None:
    robot.heartbeat_on = False
    heartbeat = start_peer('heartbeat', f'{namespace}/heartbeat', '20')
    try:
        _drive_until_moving(robot)
        killed = _kill(heartbeat)
        zero = wait_for(lambda: robot.first_zero_after(killed), what='zero after the kill')
        assert zero.t - killed <= HEARTBEAT_TIMEOUT + PERIOD + SLACK
        time.sleep(0.3)
        robot.assert_zeros_at_rate(zero.t, time.monotonic())
        # Heartbeat loss is not latched: the link comes back, motion may resume.
        robot.heartbeat_on = True
        wait_for(robot.moving, what='motion after the heartbeat returns')
    finally:
        stop_process(heartbeat)


def test_rogue_cmd_vel_publisher_is_detected_latched_and_alarmed(
    robot: Robot, namespace: str
) -> None:
    _drive_until_moving(robot)
    rogue = start_peer('twist', f'{namespace}/cmd_vel', '0.0', '1')
    try:
        # The deadline runs from when the rogue is on the ROS graph (discovery is DDS's part).
        visible = (
            wait_for(
                lambda: any(
                    info.node_name == 'test_publisher'
                    for info in robot.node.get_publishers_info_by_topic(f'{namespace}/cmd_vel')
                ),
                what='rogue publisher on the graph',
            )
            and time.monotonic()
        )
        wait_for(lambda: robot.status().state == GateStatus.STATE_LATCHED, what='latched on rogue')
        latched_after = time.monotonic() - visible
        # One guard period (0.5 s at the shipped 2 Hz) once the gate's own participant has
        # discovered the rogue; that discovery runs independently of this test's and lagged it
        # by about 2 s in one loaded CI run (latched 2.52 s after this test saw the rogue).
        assert latched_after <= 4.0, f'latched {latched_after:.2f} s after the rogue appeared'
        causes = [r.cause for r in robot.status().stop_reasons]
        assert StopReasonMsg.CAUSE_ROGUE_PUBLISHER in causes
        # The endpoint can be seen before its node's name (then it is reported unnamed, and
        # still latches: an unknown publisher is a rogue); the alarm names it once known.
        alarm = wait_for(
            lambda: [a for a in robot.alarms if 'test_publisher' in a.text], what='named alarm'
        )[0]
        assert alarm.code == 'ROGUE_ACTUATOR_PUBLISHER'
        assert alarm.severity == alarm.SEVERITY_CRITICAL
        refused = robot.reset('op-1')
        assert not refused.success and 'rogue' in refused.message, refused.message
    finally:
        stop_process(rogue)
    # Latched: stays stopped after the rogue is gone, until an operator resets.
    gone = time.monotonic()
    time.sleep(0.5)
    robot.assert_zeros_at_rate(gone, time.monotonic())
    wait_for(lambda: robot.reset('op-1').success, what='reset once the rogue is gone')
    wait_for(robot.moving, what='motion after reset')


def test_estop_gives_zero_and_no_restart_until_an_operator_resets(robot: Robot) -> None:
    _drive_until_moving(robot)
    engaged = time.monotonic()
    robot.estop(True)
    zero = wait_for(lambda: robot.first_zero_after(engaged), what='zero on e-stop')
    assert zero.t - engaged <= PERIOD + SLACK
    refused = robot.reset('op-7')
    assert not refused.success
    assert [r.cause for r in refused.remaining] == [StopReasonMsg.CAUSE_ESTOP]
    robot.estop(False)
    time.sleep(1.0)  # released, commands still coming: no automatic restart
    robot.assert_zeros_at_rate(zero.t, time.monotonic())
    assert robot.status().state == GateStatus.STATE_LATCHED
    assert not robot.reset('').success  # a reset needs an identified operator
    assert robot.reset('op-7').success
    wait_for(robot.moving, what='motion after reset')


def test_a_flood_on_odometry_does_not_delay_an_estop(robot: Robot, namespace: str) -> None:
    """Odometry is served on the gate node's executor, the e-stop on the stop path's own.

    Bound: seven of eight e-stops within FLOOD_BOUND (25 ms), and every one within one period
    plus the suite's slack (0.55 s, this test's bound before). The gate before the stop-path
    split reached 43 ms at p99 and 62 ms at worst under this load
    (bench/results/gate_latency_single_node.json, stop_latency.loaded); the split gate measures
    0.5-3 ms here and 4.4 ms at worst in the benchmark. CI runs saw e-stops of 100-340 ms with
    the cmd_vel stream gapped as long. A trial over the bound in which the host stalled (a vCPU
    taken away by the hypervisor, or this process not run: :mod:`host_stalls`) is repeated, up
    to four times, and said so in the message. The gate's own ~300 ms stall inside rclpy's
    publish (docs/HAZARDS.md) is not excused: the one trial in eight is its allowance.
    """
    flood = start_peer('odom', f'{namespace}/odom', '1000')
    delays: list[float] = []
    shown: list[str] = []
    try:
        for _ in range(12):
            if len(delays) == 8:
                break
            _drive_until_moving(robot)
            time.sleep(0.3)  # the flood in full swing
            engaged = time.monotonic()
            robot.estop(True)
            zero = wait_for(lambda t=engaged: robot.first_zero_after(t), what='zero on e-stop')
            with robot.lock:  # for the failure message: did cmd_vel keep coming meanwhile?
                seen = [o.t for o in robot.outputs if engaged - 0.5 < o.t <= zero.t]
            gap = max((b - a for a, b in itertools.pairwise(seen)), default=0.0)
            delay = zero.t - engaged
            stall = host_watch().stall(engaged - 0.5, zero.t) if delay > FLOOD_BOUND else None
            words = f'{delay * 1000:.1f} ms (longest cmd_vel gap {gap * 1000:.0f} ms'
            if stall is not None:
                shown.append(f'{words}; not counted: {stall})')
            else:
                delays.append(delay)
                shown.append(f'{words})')
            robot.estop(False)
            wait_for(lambda: robot.reset('op-1').success, what='reset after the e-stop')
    finally:
        stop_process(flood)
    assert len(delays) == 8, shown
    assert sorted(delays)[-2] <= FLOOD_BOUND and max(delays) <= PERIOD + SLACK, shown


def test_person_in_zone_latches_like_an_estop(robot: Robot) -> None:
    _drive_until_moving(robot)
    seen = time.monotonic()
    robot.person(True)
    zero = wait_for(lambda: robot.first_zero_after(seen), what='zero on person')
    assert zero.t - seen <= PERIOD + SLACK
    assert not robot.reset('op-7').success
    robot.person(False)
    time.sleep(0.5)
    robot.assert_zeros_at_rate(zero.t, time.monotonic())
    assert robot.reset('op-7').success
    wait_for(robot.moving, what='motion after reset')


# ----- plan execution --------------------------------------------------------------------------
def _number(name: str, value: float) -> SkillArgument:
    return SkillArgument(name=name, type=SkillArgument.TYPE_NUMBER, number=value)


def _text(name: str, value: str) -> SkillArgument:
    return SkillArgument(name=name, type=SkillArgument.TYPE_TEXT, text=value)


def _plan(plan_id: str, tier: int, *steps: PlanStep, approval: bool = False) -> RecoveryPlan:
    return RecoveryPlan(
        id=plan_id, incident_id='inc-1', steps=list(steps), tier=tier, requires_approval=approval
    )


def test_plan_runs_step_by_step_with_feedback_and_gated_motion(robot: Robot) -> None:
    from action_msgs.msg import GoalStatus

    plan = _plan(
        'plan-b',
        RecoveryPlan.TIER_B,
        PlanStep(skill=PlanStep.SKILL_WAIT, arguments=[_number('seconds', 0.3)]),
        PlanStep(
            skill=PlanStep.SKILL_NOTIFY,
            arguments=[_text('role', 'maintenance'), _text('message', 'drive fault cleared')],
        ),
        PlanStep(skill=PlanStep.SKILL_REVERSE, arguments=[_number('distance', 0.2)]),
    )
    started = time.monotonic()
    run = robot.execute_plan(plan)
    response, feedback = run.response, run.feedback
    assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.error_msg
    assert response.result.error_code == ExecutePlan.Result.NONE
    assert response.result.steps_completed == 3
    steps = [(f.step_index, f.step_state) for f in feedback if f.step_state != 2]
    assert steps == [
        (i, state)
        for i in range(3)
        for state in (ExecutePlan.Feedback.STEP_STARTED, ExecutePlan.Feedback.STEP_SUCCEEDED)
    ]
    notice = wait_for(lambda: robot.notices, what='operator notice')[0]
    assert (notice.role, notice.message, notice.plan_id) == (
        'maintenance', 'drive fault cleared', 'plan-b'
    )  # fmt: skip
    reverse = [o.linear for o in robot.outputs_after(started)]
    assert min(reverse) < -0.05 and max(reverse) <= 0.0  # backwards only, through the gate
    assert abs(robot.pose[0] + 0.2) < 0.05


def test_cancel_stops_the_plan_and_the_robot_at_once(robot: Robot) -> None:
    from action_msgs.msg import GoalStatus

    plan = _plan(
        'plan-rotate',
        RecoveryPlan.TIER_B,
        PlanStep(skill=PlanStep.SKILL_ROTATE, arguments=[_number('angle', 6.0)]),
    )
    start = time.monotonic()
    run = robot.execute_plan(plan, cancel_when=lambda: time.monotonic() - start >= 1.0)
    response, canceled_at = run.response, run.canceled_at
    assert canceled_at is not None
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.error_code == ExecutePlan.Result.CANCELED
    zero = wait_for(lambda: robot.first_zero_after(canceled_at), what='zero after cancel')
    assert zero.t - canceled_at <= PERIOD + SLACK
    assert abs(robot.pose[2]) < 3.0  # far from the 6 rad asked for


def test_tier_c_plan_runs_only_with_an_approval_of_exactly_that_plan(robot: Robot) -> None:
    from action_msgs.msg import GoalStatus

    plan = _plan(
        'plan-c',
        RecoveryPlan.TIER_C,
        PlanStep(skill=PlanStep.SKILL_RESUME_MISSION),
        approval=True,
    )
    response = robot.execute_plan(plan).response
    assert response.status == GoalStatus.STATUS_ABORTED
    assert response.result.error_code == ExecutePlan.Result.APPROVAL_REQUIRED
    assert robot.triggered == []

    approve = ApprovePlan.Request(
        operator_id='op-3',
        plan_id='plan-c',
        plan_digest=plan_from_msg(plan).digest(),
        decision=ApprovePlan.Request.DECISION_APPROVE,
    )
    unknown = robot.call(ApprovePlan, 'approve_plan', approve)
    assert not unknown.accepted and 'unknown plan' in unknown.message
    robot.proposal_pub.publish(RecoveryProposal(incident_id='inc-1', plans=[plan]))
    wait_for(lambda: robot.call(ApprovePlan, 'approve_plan', approve).accepted, what='approval')

    tampered = _plan('plan-c', RecoveryPlan.TIER_C, PlanStep(skill=PlanStep.SKILL_RESUME_MISSION),
                     PlanStep(skill=PlanStep.SKILL_RESUME_MISSION), approval=True)  # fmt: skip
    response = robot.execute_plan(tampered).response
    assert response.result.error_code == ExecutePlan.Result.APPROVAL_REQUIRED

    response = robot.execute_plan(plan).response
    assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.error_msg
    assert robot.triggered == ['resume_mission']


def test_motion_plan_is_refused_under_estop(robot: Robot) -> None:
    robot.estop(True)
    wait_for(lambda: robot.status().estop_engaged, what='e-stop seen')
    plan = _plan(
        'plan-move',
        RecoveryPlan.TIER_B,
        PlanStep(skill=PlanStep.SKILL_REVERSE, arguments=[_number('distance', 0.2)]),
    )
    response = robot.execute_plan(plan).response
    assert response.result.error_code == ExecutePlan.Result.SAFETY_INVARIANT_ACTIVE
    assert 'e-stop' in response.result.error_msg


def test_zero_timeout_is_refused_and_the_gate_does_not_activate(namespace: str) -> None:
    gate = start_gate(namespace, 'command_sources.nav.timeout:=0.0')
    try:
        assert gate.wait(timeout=TIMEOUT) == 1
    finally:
        output = stop_process(gate)
    assert 'command_sources.nav.timeout' in output and 'never stale' in output


def test_an_error_in_the_gate_latches_a_stop_publishes_zero_and_ends_the_process(
    ros_context: Any, namespace: str
) -> None:
    fault_stamp = 12345.0
    program = [sys.executable, str(PEERS / 'faulty_gate.py'), str(fault_stamp)]
    gate = start_gate(namespace, program=program)
    robot = Robot(ros_context, namespace)
    try:
        wait_for(robot.status, what='first gate status')
        _drive_until_moving(robot)
        robot.send_heartbeat(fault_stamp)
        assert gate.wait(timeout=TIMEOUT) != 0
        time.sleep(0.2)  # the last messages are in flight when the process ends
        assert robot.outputs[-1].linear == 0 and robot.outputs[-1].angular == 0
        internal = [
            status
            for status in robot.statuses
            if any(r.cause == StopReasonMsg.CAUSE_INTERNAL_ERROR for r in status.stop_reasons)
        ]
        assert internal, 'no gate_status named the internal error'
        assert 'injected fault' in internal[0].stop_reasons[-1].detail
    finally:
        robot.close()
        output = stop_process(gate)
    assert 'RuntimeError: injected fault in the heartbeat input' in output, output


def test_remapped_command_source_reaches_the_stop_path(ros_context: Any, namespace: str) -> None:
    # The stop path runs on a node of its own that ignores global arguments; the gate resolves
    # (remaps) each of its topics first, so a launch file's remapping still applies.
    gate = start_gate(namespace, remaps=('cmd_vel_teleop:=joy_vel',))
    robot = Robot(ros_context, namespace)
    joystick = start_peer('twist', f'{namespace}/joy_vel', '0.3', '20')
    try:
        wait_for(robot.status, what='first gate status')
        wait_for(robot.moving, what='gate forwarding the remapped source')
        assert robot.status().active_source == 'teleop'
    finally:
        stop_process(joystick)
        robot.close()
        output = stop_process(gate)
    assert 'Traceback' not in output, output
