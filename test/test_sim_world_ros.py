"""``sim_world_node`` over real ROS 2, alone and driven by the safety gate.

The simulated robot follows ``cmd_vel``, publishes what a robot's drivers do, and its camera
shows what the timeline puts in front of it. With the gate in a process of its own driving it,
a plan's execution matches the plan simulator's prediction: the same verdict, the same refusal
message, and the same path within a tolerance.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml  # type: ignore[import-untyped]
from gate_harness import start_gate, start_node, stop_process, wait_for

from muse_supervisor.action import ExecutePlan
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.msg import Alarm, MissionState, PlanStep, RecoveryPlan, SkillArgument
from muse_supervisor.nodes.conversions import plan_from_msg
from muse_supervisor.safety.config import gate_config_from_file
from muse_supervisor.sim.rollout import Nav2Presence, Situation, Verdict, simulate
from muse_supervisor.sim.world import load_world

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
WORLD = REPO / 'config' / 'maps' / 'warehouse_world.yaml'
BOX = np.array([150, 104, 58])
TIMELINE = {
    'events': [
        {'at': 0, 'mission': {'mission_id': 'pick_7', 'status': 'paused', 'step_id': 'goto'}},
        # Late enough that the test's subscriptions are matched first on a loaded machine: the
        # alarm is not latched, and the camera must be seen before the pallet falls.
        {'at': 5.0, 'obstacle': {'name': 'fallen_pallet', 'x': 1.5, 'y': 0.0, 'radius': 0.4}},
        {
            'at': 5.0,
            'alarm': {
                'source': 'drive_left', 'code': 'OVERCURRENT', 'severity': 'error',
                'text': 'Motor 2 current 11.8 A', 'values': {'current_a': 11.8},
            },
        },
    ]
}  # fmt: skip


def _start_sim(namespace: str, timeline: Path | None, *overrides: str) -> subprocess.Popen[str]:
    args = ['-p', f'world:={WORLD}', '-p', 'camera_width:=320', '-p', 'camera_height:=240']
    if timeline is not None:
        args += ['-p', f'timeline:={timeline}']
    for override in overrides:
        args += ['-p', override]
    return start_node('sim_world_node', namespace, 'sim_world.yaml', *args)


class Watcher:
    """Everything the simulated robot publishes, and a cmd_vel, heartbeat and plan client."""

    def __init__(self, context: Any, namespace: str) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.action.client import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import (
            DurabilityPolicy,
            QoSProfile,
            ReliabilityPolicy,
            qos_profile_sensor_data,
        )
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import BatteryState, Image, Range
        from std_msgs.msg import Bool, Header

        self.node = node = Node('sim_watcher', namespace=namespace, context=context)
        self.lock = threading.Lock()
        self.seen: dict[str, list[Any]] = {}
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        for topic, msg_type, qos in (
            ('odom', Odometry, 10),
            ('obstacle_distance', Range, 10),
            ('camera/image_raw', Image, qos_profile_sensor_data),
            ('battery_state', BatteryState, 10),
            ('diagnostics', DiagnosticArray, 10),
            ('alarms', Alarm, QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)),
            ('estop', Bool, latched),
            ('person_in_zone', Bool, latched),
            ('mission_state', MissionState, latched),
            ('/clock', Clock, 10),
        ):
            node.create_subscription(msg_type, topic, self._record(topic), qos)
        self.cmd_pub: Any = None  # made on the first drive(): the gate counts it as a rogue
        self.heartbeat_pub = node.create_publisher(Header, 'heartbeat', 10)
        self._Twist, self._Header = Twist, Header
        self.plan_client = ActionClient(node, ExecutePlan, 'execute_plan')  # before spinning
        self.heartbeat = False
        node.create_timer(0.05, self._on_timer)
        self.command: tuple[float, float] | None = None
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _record(self, topic: str) -> Any:
        def record(msg: Any) -> None:
            with self.lock:
                self.seen.setdefault(topic, []).append((time.monotonic(), msg))

        return record

    def drive(self, linear: float, angular: float) -> None:
        """Command this velocity on cmd_vel at 20 Hz from now on (as the gate would)."""
        if self.cmd_pub is None:
            self.cmd_pub = self.node.create_publisher(self._Twist, 'cmd_vel', 10)
        self.command = (linear, angular)

    def _on_timer(self) -> None:
        if self.command is not None:
            msg = self._Twist()
            msg.linear.x, msg.angular.z = self.command
            self.cmd_pub.publish(msg)
        if self.heartbeat:
            self.heartbeat_pub.publish(self._Header(stamp=self.node.get_clock().now().to_msg()))

    def latest(self, topic: str) -> Any:
        with self.lock:
            items = self.seen.get(topic)
            return items[-1][1] if items else None

    def all(self, topic: str) -> list[Any]:
        with self.lock:
            return [msg for _, msg in self.seen.get(topic, [])]

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()


@pytest.fixture
def namespace() -> str:
    return f'/simworld_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def timeline_file(tmp_path: Path) -> Path:
    path = tmp_path / 'timeline.yaml'
    path.write_text(yaml.safe_dump(TIMELINE))
    return path


@pytest.fixture
def watcher(ros_context: Any, namespace: str) -> Iterator[Watcher]:
    watcher = Watcher(ros_context, namespace)
    try:
        yield watcher
    finally:
        watcher.close()


def _x(odom: Any) -> float:
    return float(odom.pose.pose.position.x)


def test_the_robot_follows_cmd_vel_and_publishes_what_drivers_do(
    watcher: Watcher, namespace: str, timeline_file: Path
) -> None:
    from diagnostic_msgs.msg import DiagnosticStatus
    from std_srvs.srv import Trigger

    sim = _start_sim(namespace, timeline_file)
    try:
        odom = wait_for(lambda: watcher.latest('odom'), what='odometry')
        assert (_x(odom), odom.pose.pose.position.y) == (0.0, 0.0)  # charger_1
        # Latched: heard though joined late (not necessarily before the first odometry).
        assert wait_for(lambda: watcher.latest('estop'), what='latched e-stop').data is False
        assert wait_for(lambda: watcher.latest('person_in_zone'), what='person').data is False
        mission = wait_for(lambda: watcher.latest('mission_state'), what='mission state')
        assert (mission.mission_id, mission.status) == ('pick_7', MissionState.STATUS_PAUSED)
        battery = wait_for(lambda: watcher.latest('battery_state'), what='battery')
        assert 0.85 < battery.percentage <= 1.0 and battery.present
        diagnostics = wait_for(lambda: watcher.latest('diagnostics'), what='diagnostics')
        names = {status.name: status for status in diagnostics.status}
        assert names['battery'].level == DiagnosticStatus.OK
        # The camera, and what it shows once the timeline drops a pallet in the aisle (t = 2 s).
        image = wait_for(lambda: watcher.latest('camera/image_raw'), what='a camera frame')
        assert (image.width, image.height, image.encoding) == (320, 240, 'rgb8')

        def shows_pallet(frame: Any) -> bool:
            pixels = np.frombuffer(bytes(frame.data), np.uint8).reshape(240, 320, 3)
            region = pixels[150:210, 125:195].astype(int)
            return float((np.abs(region - BOX).max(axis=2) <= 4).mean()) > 0.5

        wait_for(
            lambda: shows_pallet(watcher.latest('camera/image_raw')),
            what='the fallen pallet in the camera image',
        )
        views = [shows_pallet(frame) for frame in watcher.all('camera/image_raw')]
        assert not views[0] and views[-1]  # an empty aisle first, then the pallet in it
        alarm = wait_for(lambda: watcher.all('alarms'), what='the timeline alarm')[0]
        assert (alarm.source, alarm.code, alarm.severity, alarm.active) == (
            'drive_left', 'OVERCURRENT', Alarm.SEVERITY_ERROR, True
        )  # fmt: skip
        reading = wait_for(
            lambda: (
                math.isfinite(watcher.latest('obstacle_distance').range)
                and watcher.latest('obstacle_distance')
            ),
            what='the pallet on the range sensor',
        )
        assert reading.range == pytest.approx(1.5 - 0.4 - 0.3, abs=0.02)
        # Services the gate calls: reset_fault for the device the timeline names.
        client = watcher.node.create_client(Trigger, 'reset_fault/drive_left')
        assert client.wait_for_service(timeout_sec=20)
        future = client.call_async(Trigger.Request())
        wait_for(future.done, what='reset_fault response')
        assert future.result().success
        wait_for(
            lambda: any(not a.active for a in watcher.all('alarms')), what='the alarm cleared'
        )
        # Turn on the spot (the pallet is ahead), then stop commanding: the base stops.
        watcher.drive(0.0, 0.8)
        wait_for(lambda: abs(watcher.latest('odom').twist.twist.angular.z) > 0.7, what='turning')
        watcher.command = None
        stopped_at = time.monotonic()
        wait_for(
            lambda: watcher.latest('odom').twist.twist.angular.z == 0.0, what='stop on timeout'
        )
        # The command timeout is 0.5 s; allow for a loaded machine.
        assert time.monotonic() - stopped_at < 0.5 + 1.5
        yaw = 2 * math.atan2(
            watcher.latest('odom').pose.pose.orientation.z,
            watcher.latest('odom').pose.pose.orientation.w,
        )
        assert abs(yaw) > 0.3
    finally:
        output = stop_process(sim)
    assert 'Traceback' not in output, output


def test_with_publish_clock_the_simulation_time_stamps_everything(
    watcher: Watcher, namespace: str
) -> None:
    sim = _start_sim(namespace, None, 'publish_clock:=true', 'camera_rate_hz:=0.0')
    try:
        wait_for(lambda: len(watcher.all('/clock')) > 20, what='/clock')
        clock = watcher.all('/clock')
        seconds = [c.clock.sec + c.clock.nanosec * 1e-9 for c in clock]
        assert seconds == sorted(seconds) and 0 < seconds[0] < 30
        steps = np.diff(seconds)
        # Whole 50 Hz steps: a message a loaded subscriber missed shows as two steps in one.
        moved = steps[steps > 0]
        assert moved.size and np.allclose(moved / 0.02, np.round(moved / 0.02), atol=1e-4)
        assert np.median(moved) == pytest.approx(0.02, abs=1e-6)
        odom = watcher.latest('odom')
        stamp = odom.header.stamp.sec + odom.header.stamp.nanosec * 1e-9
        assert abs(stamp - seconds[-1]) < 1.0  # sim time, not the wall clock's 1.7e9 s
    finally:
        output = stop_process(sim)
    assert 'Traceback' not in output, output


def test_a_bad_timeline_refuses_to_configure_naming_the_event(
    namespace: str, tmp_path: Path
) -> None:
    bad = tmp_path / 'bad.yaml'
    bad.write_text(yaml.safe_dump({'events': [{'at': 3, 'obstcle': {}}]}))
    sim = _start_sim(namespace, bad)
    try:
        assert sim.wait(timeout=30) == 1
    finally:
        output = stop_process(sim)
    assert 'event 0 (at 3 s)' in output and 'obstcle' in output, output
    assert 'Traceback' not in output


# ----- prediction equals execution ---------------------------------------------------------------
def _navigate(target: str, plan_id: str) -> RecoveryPlan:
    step = PlanStep(
        skill=PlanStep.SKILL_NAVIGATE_TO,
        arguments=[SkillArgument(name='target', type=SkillArgument.TYPE_TEXT, text=target)],
    )
    step.timeout.sec = 60
    return RecoveryPlan(id=plan_id, incident_id='inc-sim', steps=[step], tier=RecoveryPlan.TIER_B)


def _reverse(distance: float, plan_id: str) -> RecoveryPlan:
    step = PlanStep(
        skill=PlanStep.SKILL_REVERSE,
        arguments=[
            SkillArgument(name='distance', type=SkillArgument.TYPE_NUMBER, number=distance)
        ],
    )
    return RecoveryPlan(id=plan_id, incident_id='inc-sim', steps=[step], tier=RecoveryPlan.TIER_B)


def _execute(watcher: Watcher, plan: RecoveryPlan) -> tuple[Any, list[Pose2D]]:
    """Run ``plan`` on the gate; the result and the robot's odometry path meanwhile."""
    client = watcher.plan_client
    assert client.wait_for_server(timeout_sec=30)
    start = len(watcher.all('odom'))
    sent = client.send_goal_async(ExecutePlan.Goal(plan=plan))
    goal = wait_for(sent.done, what='goal response') and sent.result()
    result = goal.get_result_async()
    wait_for(result.done, timeout=90, what='plan result')
    path = [
        Pose2D(float(o.pose.pose.position.x), float(o.pose.pose.position.y), 0.0)
        for o in watcher.all('odom')[start:]
    ]
    return result.result().result, path


def _deviation(path: list[Pose2D], reference: tuple[Pose2D, ...]) -> float:
    """Largest distance from a point of ``path`` to the nearest point of ``reference``."""
    ref = np.array([(p.x, p.y) for p in reference])
    points = np.array([(p.x, p.y) for p in path])
    gaps = np.linalg.norm(points[:, None, :] - ref[None, :, :], axis=2).min(axis=1)
    return float(gaps.max())


def test_execution_on_the_simulated_robot_matches_the_prediction(
    watcher: Watcher, namespace: str
) -> None:
    """The gate's shipped parameters, no Nav2 here: the prediction uses the same."""
    gate_file = REPO / 'config' / 'safety_gate.yaml'
    sim = _start_sim(namespace, None, 'camera_rate_hz:=0.0')
    gate = start_gate(namespace)
    try:
        watcher.heartbeat = True
        wait_for(lambda: watcher.latest('odom'), what='odometry')
        config = gate_config_from_file(str(gate_file), f'{namespace}/safety_gate')
        world = load_world(WORLD)
        situation = Situation(Pose2D(0.0, 0.0, 0.0), nav2=Nav2Presence.NOT_INSTALLED)
        # A plan the gate refuses: refused for the same reason, with the same message.
        refused = _reverse(1.8, 'too-far')
        predicted = simulate(plan_from_msg(refused), world, config, situation)
        result, _ = _execute(watcher, refused)
        assert predicted.verdict is Verdict.INVALID
        assert int(result.error_code) == int(predicted.gate_error)
        assert result.error_msg == predicted.gate_message
        # A plan that drives: the same verdict and the same path within 0.15 m.
        drive = _navigate('staging', 'to-staging')
        predicted = simulate(plan_from_msg(drive), world, config, situation)
        assert predicted.verdict is Verdict.SUCCESS, predicted.explanation
        result, path = _execute(watcher, drive)
        assert result.error_code == ExecutePlan.Result.NONE, result.error_msg
        assert len(path) > 50
        end = path[-1]
        goal = predicted.path[-1]
        assert math.dist((end.x, end.y), (goal.x, goal.y)) < 0.15
        assert _deviation(path, predicted.path) < 0.15
        assert _deviation(list(predicted.path), tuple(path)) < 0.15
    finally:
        watcher.heartbeat = False
        gate_output = stop_process(gate)
        sim_output = stop_process(sim)
    assert 'Traceback' not in gate_output, gate_output
    assert 'Traceback' not in sim_output, sim_output
