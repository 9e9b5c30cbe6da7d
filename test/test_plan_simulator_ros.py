"""``plan_simulator_node`` over real ROS 2: the evaluate_plan action in a process of its own.

A test node plays the robot's odometry and the gate's status; goals carry several plans,
which come back evaluated (feedback per plan), ranked by the same rules as the core, and
the action's cancel and deadline behave.
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
from gate_harness import stop_process, wait_for

from muse_supervisor.action import EvaluatePlan
from muse_supervisor.msg import PlanEvaluation, PlanStep, RecoveryPlan, SkillArgument

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
NODE = Path(sys.prefix) / 'bin' / 'plan_simulator_node'


def _start(
    namespace: str, *overrides: str, shipped: bool = False, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """The node with the clone's files, or (``shipped``) with the installed defaults."""
    command = [
        str(NODE), '--ros-args', '-r', f'__ns:={namespace}',
        '--params-file', str(REPO / 'config' / 'plan_simulator.yaml'), '-p', 'autostart:=true',
    ]  # fmt: skip
    if not shipped:
        command += [
            '-p',
            f'world:={REPO / "config/maps/warehouse_world.yaml"}',
            '-p',
            'workers:=2',
        ]
        command += ['-p', f'gate_parameters:={REPO / "config/safety_gate.yaml"}']
    for override in overrides:
        command += ['-p', override]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


class Client:
    """The robot's odometry (at the charger) and an evaluate_plan client."""

    def __init__(self, context: Any, namespace: str) -> None:
        from nav_msgs.msg import Odometry
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node

        self.node = Node('test_planner_client', namespace=namespace, context=context)
        odom = self.node.create_publisher(Odometry, 'odom', 10)
        self.node.create_timer(0.05, lambda: odom.publish(Odometry()))  # at the origin
        self.client = ActionClient(self.node, EvaluatePlan, 'evaluate_plan')
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def send(self, *plans: RecoveryPlan) -> tuple[Any, list[Any]]:
        assert self.client.wait_for_server(timeout_sec=30)
        # The server must have heard this node's odometry (discovery takes its time).
        wait_for(
            lambda: self.node.count_subscribers('odom') > 0, timeout=30, what='odom subscriber'
        )
        # Feedback travels on a topic of its own, which wait_for_server does not cover: a
        # feedback sent before this node discovered the server's publisher is lost (seen in CI).
        wait_for(lambda: self.node.count_publishers('evaluate_plan/_action/feedback') > 0,
                 timeout=30, what="the server's feedback publisher")  # fmt: skip
        feedback: list[Any] = []
        sent = self.client.send_goal_async(
            EvaluatePlan.Goal(incident_id='inc-1', plans=list(plans)),
            feedback_callback=lambda m: feedback.append(m.feedback),
        )
        goal = wait_for(sent.done, what='goal response') and sent.result()
        assert goal.accepted
        return goal, feedback

    def close(self) -> None:
        self.client.destroy()
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()


@pytest.fixture
def namespace() -> str:
    return f'/sim_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def client(ros_context: Any, namespace: str) -> Iterator[Client]:
    node = _start(namespace)
    client = Client(ros_context, namespace)
    try:
        yield client
    finally:
        client.close()
        output = stop_process(node)
        assert 'Traceback' not in output, output


def _plan(plan_id: str, *steps: PlanStep, tier: int = RecoveryPlan.TIER_B) -> RecoveryPlan:
    return RecoveryPlan(id=plan_id, incident_id='inc-1', steps=list(steps), tier=tier)


def _navigate(target: str) -> PlanStep:
    argument = SkillArgument(name='target', type=SkillArgument.TYPE_TEXT, text=target)
    return PlanStep(skill=PlanStep.SKILL_NAVIGATE_TO, arguments=[argument])


def _reverse(distance: float) -> PlanStep:
    argument = SkillArgument(name='distance', type=SkillArgument.TYPE_NUMBER, number=distance)
    return PlanStep(skill=PlanStep.SKILL_REVERSE, arguments=[argument])


def test_every_plan_comes_back_evaluated_with_feedback_per_plan(client: Client) -> None:
    plans = [
        _plan('to-staging', _navigate('staging')),  # (0, 3): a straight line from the charger
        _plan('to-aisle', _navigate('aisle_2_end')),  # behind a shelf row
        _plan('too-far-back', _reverse(1.8)),  # beyond the gate's max_reverse_distance
        _plan('into-the-wall', _reverse(1.0), _navigate('nowhere')),
    ]
    goal, feedback = client.send(*plans)
    result = goal.get_result_async()
    wait_for(result.done, timeout=60, what='evaluations')
    response = result.result().result
    assert response.error_code == EvaluatePlan.Result.NONE, response.error_msg
    outcomes = {e.plan_id: e.predicted_outcome for e in response.evaluations}
    assert [e.plan_id for e in response.evaluations] == [p.id for p in plans]
    assert outcomes['to-staging'] == PlanEvaluation.OUTCOME_SUCCESS
    # No nav2_msgs here, so the gate (navigation_backend auto) would drive navigate_to with its
    # built-in controller, straight at the goal: through the shelf row, predicted as a collision.
    assert outcomes['to-aisle'] == PlanEvaluation.OUTCOME_UNSAFE
    assert 'collision with the map' in response.evaluations[1].findings[0]
    assert outcomes['too-far-back'] == PlanEvaluation.OUTCOME_INVALID
    assert outcomes['into-the-wall'] == PlanEvaluation.OUTCOME_INVALID  # unknown waypoint
    staging = response.evaluations[0]
    assert 2.5 < staging.predicted_distance < 3.5 and len(staging.predicted_path.poses) > 20
    assert staging.predicted_path.header.frame_id == 'map' and staging.failing_step == -1
    assert 'max_reverse_distance' in ' '.join(response.evaluations[2].findings) or (
        'outside' in ' '.join(response.evaluations[2].findings)
    )
    # Feedback and result travel on topics of their own: the last feedback may come after it.
    wait_for(lambda: len(feedback) == 4, timeout=10, what='feedback for every plan')
    assert [f.plans_done for f in feedback] == [1, 2, 3, 4]


def test_cancel_ends_the_goal(client: Client) -> None:
    from action_msgs.msg import GoalStatus

    long_plans = [
        _plan(f'p{i}', _navigate('aisle_1_end'), _navigate('aisle_2_end')) for i in range(8)
    ]
    goal, _ = client.send(*long_plans)
    goal.cancel_goal_async()
    result = goal.get_result_async()
    wait_for(result.done, timeout=60, what='canceled result')
    assert result.result().status == GoalStatus.STATUS_CANCELED
    assert result.result().result.error_code == EvaluatePlan.Result.CANCELED


def test_plans_past_the_deadline_are_reported_unknown(ros_context: Any, namespace: str) -> None:
    node = _start(namespace, 'deadline:=0.1', 'workers:=1')
    client = Client(ros_context, namespace)
    try:
        plans = [
            _plan(f'p{i}', _navigate('aisle_1_end'), _navigate('aisle_2_end')) for i in range(6)
        ]
        goal, _ = client.send(*plans)
        result = goal.get_result_async()
        wait_for(result.done, timeout=60, what='result at the deadline')
        evaluations = result.result().result.evaluations
        assert len(evaluations) == 6
        unknown = [e for e in evaluations if e.predicted_outcome == PlanEvaluation.OUTCOME_UNKNOWN]
        assert unknown and 'deadline' in unknown[0].findings[0]
    finally:
        client.close()
        stop_process(node)


def test_a_world_file_that_does_not_exist_refuses_to_configure(namespace: str) -> None:
    node = _start(namespace, 'world:=/nonexistent/world.yaml')
    try:
        assert node.wait(timeout=30) == 1
    finally:
        output = stop_process(node)
    assert '/nonexistent/world.yaml' in output and 'Traceback' not in output


def test_killing_the_node_takes_its_workers_with_it(ros_context: Any, namespace: str) -> None:
    import contextlib
    import os
    import signal

    node = _start(namespace)
    client = Client(ros_context, namespace)
    children: list[int] = []
    try:
        goal, _ = client.send(_plan('warm-up', _reverse(0.2)))  # the pool starts on demand
        result = goal.get_result_async()
        wait_for(result.done, timeout=60, what='a first evaluation')
        children = _children(node.pid)
        assert children, 'no worker processes were started'
        os.kill(node.pid, signal.SIGKILL)
        node.wait(timeout=10)
        wait_for(lambda: not any(_alive(pid) for pid in children), timeout=10, what='workers gone')
    finally:
        for pid in children:  # left behind, they would hold the node's output pipe open
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        client.close()
        stop_process(node)


def _children(pid: int) -> list[int]:
    tasks = Path(f'/proc/{pid}/task')
    found: list[int] = []
    for task in tasks.iterdir():
        text = (task / 'children').read_text().split()
        found.extend(int(child) for child in text)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except FileNotFoundError:
        return False
    return stat.split(')')[-1].split()[0] != 'Z'


def test_the_installed_world_and_gate_file_are_found_without_a_sourced_workspace(
    namespace: str,
) -> None:
    """As ``muse-supervisor up`` starts it: no AMENT_PREFIX_PATH, the shipped defaults.

    Failed before the fix: the share folder was looked up on the ament index only, and the
    configure transition failed without a word.
    """
    import os

    env = {k: v for k, v in os.environ.items() if k != 'AMENT_PREFIX_PATH'}
    node = _start(namespace, shipped=True, env=env)
    try:
        assert node.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and node.poll() is None:
            line = node.stdout.readline()
            lines.append(line)
            if 'configured: world warehouse' in line:
                break
        assert any('configured: world warehouse' in line for line in lines), ''.join(lines)
        assert node.poll() is None
    finally:
        stop_process(node)
