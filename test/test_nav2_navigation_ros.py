"""``navigate_to`` through Nav2, over real ROS: the gate's NavigateToPose client and a server.

``nav2_msgs`` cannot be installed from PyPI, so the session builds a stand-in package with the
same NavigateToPose fields (test/nav2_msgs_stand_in, about 10 s, incremental afterwards), and
test/peers/fake_nav2.py serves it in another process and drives like Nav2's controller: on
``cmd_vel_nav``, which the gate forwards as the plan's motion only while the step runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_harness import (
    PEERS,
    REPO,
    TIMEOUT,
    Robot,
    running_gate,
    start_gate,
    stop_process,
    wait_for,
)

from muse_supervisor.action import ExecutePlan
from muse_supervisor.msg import GateStatus, PlanStep, RecoveryPlan, SkillArgument

pytestmark = [pytest.mark.ros, pytest.mark.slow]

DOCK_1 = (0.0, -1.0)  # config/safety_gate.yaml
PERIOD = 0.05
SLACK = 0.5  # scheduling and transport on a loaded 2-core machine


@pytest.fixture(scope='session')
def nav2_env() -> dict[str, str]:
    """The environment in which ``nav2_msgs`` (the stand-in) imports; built on first use."""
    build = REPO / 'build' / Path(sys.prefix).name / 'nav2_msgs_stand_in'
    install = build / 'install'
    env = dict(os.environ)
    env.update(
        AMENT_PREFIX_PATH=sys.prefix,
        CMAKE_PREFIX_PATH=sys.prefix,
        PATH=f'{sys.prefix}/bin:{env["PATH"]}',
    )
    steps = [
        ['cmake', '--build', str(build), '-j', str(os.cpu_count() or 1)],
        ['cmake', '--install', str(build)],
    ]
    if not (build / 'CMakeCache.txt').exists():
        steps.insert(0, [
            'cmake', '-S', str(REPO / 'test' / 'nav2_msgs_stand_in'), '-B', str(build),
            f'-DCMAKE_INSTALL_PREFIX={install}', f'-DPython3_EXECUTABLE={sys.executable}',
            '-DBUILD_TESTING=OFF',
        ])  # fmt: skip
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    site = install / 'lib' / f'python{sys.version_info.major}.{sys.version_info.minor}'
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        filter(None, [str(site / 'site-packages'), env.get('PYTHONPATH', '')])
    )
    env['LD_LIBRARY_PATH'] = os.pathsep.join(
        filter(None, [str(install / 'lib'), env.get('LD_LIBRARY_PATH', '')])
    )
    return env


class FakeNav2:
    """test/peers/fake_nav2.py in its own process, with what it printed."""

    def __init__(self, namespace: str, mode: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(PEERS / 'fake_nav2.py'), namespace, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        # Discovery on a loaded machine can take seconds: a goal sent before the stand-in hears
        # the robot's odometry would see it stand still (CI, stop 13).
        wait_for(lambda: 'READY' in self.lines, what='fake Nav2 server up')
        wait_for(lambda: 'ODOM' in self.lines, what='fake Nav2 hearing odom')
        wait_for(lambda: 'SUBSCRIBED' in self.lines, what='the gate listening to fake Nav2')

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.strip())

    def printed(self, prefix: str) -> list[str]:
        return [line for line in self.lines if line.startswith(prefix)]

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture
def namespace() -> str:
    return f'/nav2_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def gate_and_robot(
    ros_context: Any, namespace: str, nav2_env: dict[str, str], request: Any
) -> Iterator[Robot]:
    # The Nav2 stand-in starts after the gate: on a loaded machine discovery can take longer
    # than the shipped nav2_server_timeout (1 s), which would send the step to the built-in
    # controller. Tests that check the time-out itself set it back.
    overrides = getattr(request, 'param', ('nav2_server_timeout:=10.0',))
    with running_gate(ros_context, namespace, *overrides, env=nav2_env) as robot:
        yield robot


@pytest.fixture
def nav2(
    gate_and_robot: Robot, namespace: str, nav2_env: dict[str, str], request: Any
) -> Iterator[FakeNav2]:
    """The Nav2 stand-in (mode ``drive`` unless parametrized), started after the gate."""
    fake = FakeNav2(namespace, getattr(request, 'param', 'drive'), nav2_env)
    try:
        yield fake
    finally:
        fake.stop()


def _navigate_to(target: str) -> RecoveryPlan:
    step = PlanStep(
        skill=PlanStep.SKILL_NAVIGATE_TO,
        arguments=[SkillArgument(name='target', type=SkillArgument.TYPE_TEXT, text=target)],
    )
    step.timeout.sec = 30
    return RecoveryPlan(
        id=f'nav-{uuid.uuid4().hex[:6]}', incident_id='inc-nav', steps=[step],
        tier=RecoveryPlan.TIER_B,
    )  # fmt: skip


def test_navigate_to_drives_through_nav2_within_the_gate_rules(
    gate_and_robot: Robot, nav2: FakeNav2
) -> None:
    from action_msgs.msg import GoalStatus

    robot = gate_and_robot
    started = time.monotonic()
    run = robot.execute_plan(_navigate_to('dock_1'))
    response = run.response
    assert response.status == GoalStatus.STATUS_SUCCEEDED, response.result.error_msg
    assert nav2.printed('GOAL') == ['GOAL 0.000 -1.000 0.000 odom']  # the waypoint, once
    texts = [f.status_text for f in run.feedback if f.step_state == f.STEP_RUNNING]
    assert any(text.startswith('nav2: ') and 'm to go' in text for text in texts), texts
    x, y, _ = robot.pose
    assert abs(x - DOCK_1[0]) < 0.15 and abs(y - DOCK_1[1]) < 0.15, robot.pose
    moving = [o for o in robot.outputs_after(started) if o.linear or o.angular]
    assert moving, 'Nav2 commands never reached cmd_vel'
    assert all(abs(o.linear) <= 0.5 and abs(o.angular) <= 1.0 for o in moving)
    # The gate forwarded Nav2's controller as the plan's motion (EXECUTING_PLAN).
    assert any(s.state == GateStatus.STATE_EXECUTING_PLAN for s in robot.statuses)
    # After the step, Nav2's source is an ordinary source again: no plan motion remains.
    assert robot.status().active_plan_id == ''


def test_canceling_the_plan_cancels_the_nav2_goal_and_stops_at_once(
    gate_and_robot: Robot, nav2: FakeNav2
) -> None:
    from action_msgs.msg import GoalStatus

    robot = gate_and_robot
    moved: list[float] = []

    def moving_then_mark() -> bool:
        if robot.moving(0.02):
            moved.append(time.monotonic())
            return True
        return False

    response = robot.execute_plan(_navigate_to('dock_1'), cancel_when=moving_then_mark).response
    assert response.status == GoalStatus.STATUS_CANCELED
    assert response.result.error_code == ExecutePlan.Result.CANCELED
    zero = wait_for(lambda: robot.first_zero_after(moved[0]), what='zero after cancel')
    assert zero.t - moved[0] <= PERIOD + SLACK
    wait_for(lambda: nav2.printed('CANCELED'), what='Nav2 goal canceled')


@pytest.mark.parametrize('nav2', ['abort'], indirect=True)
def test_a_nav2_abort_fails_the_step_with_its_error_code(
    gate_and_robot: Robot, nav2: FakeNav2
) -> None:
    response = gate_and_robot.execute_plan(_navigate_to('dock_1')).response
    assert response.result.error_code == ExecutePlan.Result.STEP_FAILED
    assert 'error_code 104' in response.result.error_msg


@pytest.mark.parametrize('gate_and_robot', [('nav2_server_timeout:=1.0',)], indirect=True)
def test_auto_backend_without_a_nav2_server_falls_back_to_the_built_in_controller(
    gate_and_robot: Robot,
) -> None:
    from action_msgs.msg import GoalStatus

    run = gate_and_robot.execute_plan(_navigate_to('dock_1'))
    assert run.response.status == GoalStatus.STATUS_SUCCEEDED, run.response.result.error_msg
    texts = [f.status_text for f in run.feedback]
    assert any('(built-in: Nav2 action server navigate_to_pose did not answer' in t for t in texts)


@pytest.mark.parametrize('gate_and_robot', [('navigation_backend:=nav2',)], indirect=True)
def test_nav2_backend_without_a_server_fails_the_step(gate_and_robot: Robot) -> None:
    response = gate_and_robot.execute_plan(_navigate_to('dock_1')).response
    assert response.result.error_code == ExecutePlan.Result.STEP_FAILED
    assert 'did not answer' in response.result.error_msg


def test_nav2_backend_without_nav2_msgs_refuses_to_configure(namespace: str) -> None:
    gate = start_gate(namespace, 'navigation_backend:=nav2')  # no stand-in on the path
    try:
        assert gate.wait(timeout=TIMEOUT) == 1
    finally:
        output = stop_process(gate)
    assert 'nav2_msgs does not import' in output, output
