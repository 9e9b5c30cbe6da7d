"""Test harness around a safety gate running in its own process.

It starts ``safety_gate_node`` in a namespace of the test's own, and gives the test one rclpy
node that plays the rest of the robot: it records every ``cmd_vel`` and ``gate_status``, keeps the
supervisor heartbeat alive, simulates a differential-drive base from the gate's own output
(odometry at 50 Hz), serves the mission's Trigger services, and publishes e-stop, person and
command inputs on request.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from host_stalls import host_watch

REPO = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).parent / 'peers'
GATE = Path(sys.prefix) / 'bin' / 'safety_gate_node'
MAX_ZERO_GAP = 0.45  # s: see Robot.assert_zeros_at_rate
TIMEOUT = 20.0  # generous: process start and discovery on a loaded 2-core machine


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = '') -> Any:
    """Poll ``condition`` until it is truthy; return its value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f'{what or "condition"} not met within {timeout} s')
        time.sleep(0.01)


def start_node(
    executable: str | list[str],
    namespace: str,
    params_file: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start an installed node executable (or ``executable`` as a command) in ``namespace``.

    It gets the clone's ``config/<params_file>``, ``autostart:=true`` and ``args`` (more ROS
    arguments: ``-p name:=value``, ``-r from:=to``); ``env`` replaces the environment. Output and
    errors come back together on ``stdout``, for :func:`stop_process`.
    """
    program = (
        [str(Path(sys.prefix) / 'bin' / executable)] if isinstance(executable, str) else executable
    )
    command = [
        *program, '--ros-args', '-r', f'__ns:={namespace}',
        '--params-file', str(REPO / 'config' / params_file), '-p', 'autostart:=true', *args,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )


def start_gate(
    namespace: str,
    *overrides: str,
    program: list[str] | None = None,
    remaps: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Start the gate with the shipped parameters plus ``name:=value`` overrides.

    ``program`` replaces the installed executable (a gate with an injected fault); ``remaps``
    are ``from:=to`` topic remappings; ``env`` replaces the environment.
    """
    args = ['-r', '__node:=safety_gate']
    for remap in remaps:
        args += ['-r', remap]
    for override in overrides:
        args += ['-p', override]
    return start_node(program or 'safety_gate_node', namespace, 'safety_gate.yaml', *args, env=env)


def start_peer(*args: str) -> subprocess.Popen[str]:
    """Start test/peers/publisher.py and wait until it publishes."""
    process = subprocess.Popen(
        [sys.executable, str(PEERS / 'publisher.py'), *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == 'READY'
    return process


def stop_process(process: subprocess.Popen[str]) -> str:
    """Stop a process (SIGINT, then harder) and return what it printed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.stdout.read() if process.stdout is not None else ''


@dataclass
class Output:
    """One cmd_vel message as received (``t``, this process's monotonic clock)."""

    t: float
    linear: float
    angular: float
    sent: float = 0.0  # the gate's publication time (DDS source timestamp, wall clock)


@dataclass
class PlanRun:
    """What one ``execute_plan`` goal gave: result response, every feedback, cancel time."""

    response: Any = None
    feedback: list[Any] = field(default_factory=list)
    canceled_at: float | None = None


@contextlib.contextmanager
def running_gate(
    context: Any, namespace: str, *overrides: str, env: dict[str, str] | None = None
) -> Iterator[Robot]:
    """A gate with the shipped parameters (plus overrides) and the robot around it.

    Yields once the gate's first status has arrived; afterwards stops both and checks that the
    gate printed no traceback.
    """
    gate = start_gate(namespace, *overrides, env=env)
    robot = Robot(context, namespace)
    try:
        wait_for(robot.status, what='first gate status')
        yield robot
    finally:
        robot.close()
        output = stop_process(gate)
        assert 'Traceback' not in output, output


class Robot:
    """The rest of the robot, around one gate namespace (see module docstring)."""

    def __init__(
        self,
        context: Any,
        namespace: str,
        estop: bool | None = False,
        use_sim_time: bool = False,
    ) -> None:
        """``estop``: what the latched e-stop input says at start (``None``: nothing)."""
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.action import ActionClient
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool, Header
        from std_srvs.srv import Trigger

        from muse_supervisor.action import ExecutePlan
        from muse_supervisor.msg import Alarm, GateStatus, OperatorNotice, RecoveryProposal

        self.namespace = namespace
        host_watch()  # sampling from now on, for assert_zeros_at_rate
        from rclpy.parameter import Parameter

        sim = [Parameter('use_sim_time', value=True)] if use_sim_time else []
        self.node = Node(
            'test_robot', namespace=namespace, context=context, parameter_overrides=sim
        )
        self.lock = threading.Lock()
        self.outputs: list[Output] = []
        self.statuses: list[Any] = []
        self.alarms: list[Any] = []
        self.notices: list[Any] = []
        self.triggered: list[str] = []
        self.trigger_success = True
        self.heartbeat_on = True
        self.command: tuple[str, float, float] | None = None
        self.pose = [0.0, 0.0, 0.0]
        self.speed = (0.0, 0.0)
        self._clients: dict[str, Any] = {}
        node = self.node
        latched = QoSProfile(
            depth=1,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL,
        )
        node.create_subscription(Twist, 'cmd_vel', self._on_cmd, 100)
        node.create_subscription(GateStatus, 'gate_status', self._append(self.statuses), latched)
        node.create_subscription(Alarm, 'alarms', self._append(self.alarms), 10)
        node.create_subscription(
            OperatorNotice, 'operator_notices', self._append(self.notices), 10
        )
        # A latched e-stop input that says released: the gate counts an e-stop it has not
        # heard since start as engaged.
        self.estop_pub = node.create_publisher(Bool, 'estop', latched)
        self.person_pub = node.create_publisher(Bool, 'person_in_zone', 10)
        self.proposal_pub = node.create_publisher(RecoveryProposal, 'recovery_proposals', latched)
        self.heartbeat_pub = node.create_publisher(Header, 'heartbeat', 10)
        self.odom_pub = node.create_publisher(Odometry, 'odom', 10)
        self.twist_pubs = {
            topic: node.create_publisher(Twist, topic, 10)
            for topic in ('cmd_vel_nav', 'cmd_vel_teleop')
        }
        for service in ('resume_mission', 'retry_step'):
            node.create_service(Trigger, service, self._trigger(service))
        self._Twist, self._Header, self._Odometry, self._Bool = Twist, Header, Odometry, Bool
        if estop is not None:
            self.estop(estop)
        node.create_timer(0.05, self._on_heartbeat_timer)
        node.create_timer(0.02, self._on_sim_timer)
        # Made before the executor spins: rclpy 9 (Kilted) adds an ActionClient to its node
        # before the client has its lock, so one made while another thread spins the node can
        # kill that thread (AttributeError '_lock'), and no response ever arrives.
        self.plan_client = ActionClient(node, ExecutePlan, 'execute_plan')
        # Single-threaded, like the gate: rclpy 7.1's MultiThreadedExecutor can stall for a
        # second (ros2/rclpy#1452), which would stamp a cmd_vel late and fail a deadline that
        # the gate met. No callback here blocks, so one thread serves them all.
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()

    # ----- recording -------------------------------------------------------------------------
    def _append(self, items: list[Any]) -> Callable[[Any], None]:
        def append(msg: Any) -> None:
            with self.lock:
                items.append(msg)

        return append

    def _on_cmd(self, msg: Any, info: Any) -> None:
        sent = info['source_timestamp'] / 1e9
        with self.lock:
            self.outputs.append(Output(time.monotonic(), msg.linear.x, msg.angular.z, sent))
            self.speed = (msg.linear.x, msg.angular.z)

    def _trigger(self, name: str) -> Callable[[Any, Any], Any]:
        def serve(request: Any, response: Any) -> Any:
            self.triggered.append(name)
            response.success = self.trigger_success
            response.message = f'{name} done' if self.trigger_success else f'{name} refused'
            return response

        return serve

    def outputs_after(self, t: float) -> list[Output]:
        with self.lock:
            return [o for o in self.outputs if o.t > t]

    def first_zero_after(self, t: float) -> Output | None:
        return next((o for o in self.outputs_after(t) if o.linear == 0 and o.angular == 0), None)

    def assert_zeros_at_rate(self, start: float, end: float, rate_hz: float = 20.0) -> None:
        """Between ``start`` and ``end``: only zeros, and they keep coming at the gate's rate.

        ``all(...)`` over the outputs alone would also pass if the gate fell silent, yet it
        promises explicit zeros: no gap over 0.45 s, under the 0.5 s command timeout of a base
        driver (the simulated robot's), so the base never times out between two zeros, and at
        least half the gate's rate over the rest of the window. A gate stall of about 300 ms
        inside rclpy's publish is measured here (docs/HAZARDS.md): the bounds leave room for
        one. Motion fails at once.
        Too few zeros in a window in which the host stalled (:mod:`host_stalls`) measured the
        machine: the promise holds at any time, so a new window as long is watched, at most
        three times, and the message says what stalled.
        """
        stalls: list[str] = []
        while True:
            problem = self._zeros_at_rate_problem(start, end, rate_hz)
            stall = host_watch().stall(start, end) if problem else None
            if problem is None:
                return
            if stall is None or len(stalls) == 3:
                raise AssertionError(
                    f'{problem}; host stalls in earlier windows: {stalls}' if stalls else problem
                )
            stalls.append(f'{problem} while {stall}')
            length = end - start
            start = time.monotonic()
            time.sleep(length)
            end = time.monotonic()

    def _zeros_at_rate_problem(self, start: float, end: float, rate_hz: float) -> str | None:
        with self.lock:
            window = [o for o in self.outputs if start < o.t <= end]
        moving = [o for o in window if o.linear != 0 or o.angular != 0]
        assert not moving, f'motion while it must be stopped: {moving[:3]}'
        if not window:
            return f'no cmd_vel at all in {end - start:.2f} s'
        expected = max(0.0, end - start - MAX_ZERO_GAP) * rate_hz  # outside one allowed gap
        stamps = [start, *(o.t for o in window), end]
        gap = max(b - a for a, b in itertools.pairwise(stamps))
        if len(window) >= 0.5 * expected and gap <= MAX_ZERO_GAP:
            return None
        # Where the gap was: in the gate's publishing (source stamps), or in delivery.
        sent = max((b.sent - a.sent for a, b in itertools.pairwise(window)), default=0.0)
        return (
            f'{len(window)} zeros in {end - start:.2f} s, longest gap {gap:.2f} s as received, '
            f'{sent:.2f} s between publications'
        )

    def moving(self, threshold: float = 0.05) -> bool:
        with self.lock:
            return bool(self.outputs) and abs(self.outputs[-1].linear) > threshold

    def status(self) -> Any:
        with self.lock:
            return self.statuses[-1] if self.statuses else None

    # ----- the rest of the robot -------------------------------------------------------------
    def _on_heartbeat_timer(self) -> None:
        if self.heartbeat_on:
            self.heartbeat_pub.publish(self._Header(stamp=self.node.get_clock().now().to_msg()))
        if self.command is not None:
            topic, linear, angular = self.command
            msg = self._Twist()
            msg.linear.x, msg.angular.z = linear, angular
            self.twist_pubs[topic].publish(msg)

    def _on_sim_timer(self) -> None:
        dt = 0.02
        with self.lock:
            linear, angular = self.speed
            x, y, yaw = self.pose
            self.pose = [
                x + linear * math.cos(yaw) * dt,
                y + linear * math.sin(yaw) * dt,
                yaw + angular * dt,
            ]
            x, y, yaw = self.pose
        odom = self._Odometry()
        odom.header.stamp = self.node.get_clock().now().to_msg()
        odom.pose.pose.position.x, odom.pose.pose.position.y = x, y
        odom.pose.pose.orientation.z = math.sin(yaw / 2)
        odom.pose.pose.orientation.w = math.cos(yaw / 2)
        odom.twist.twist.linear.x, odom.twist.twist.angular.z = linear, angular
        self.odom_pub.publish(odom)

    def drive(self, linear: float, angular: float = 0.0, topic: str = 'cmd_vel_teleop') -> None:
        """Command this velocity at 20 Hz from now on."""
        self.command = (topic, linear, angular)

    def send_heartbeat(self, stamp_sec: float) -> None:
        """Publish one heartbeat with this stamp (beside the timer's)."""
        header = self._Header()
        header.stamp.sec = int(stamp_sec)
        self.heartbeat_pub.publish(header)

    def estop(self, engaged: bool) -> None:
        self.estop_pub.publish(self._Bool(data=engaged))

    def person(self, present: bool) -> None:
        self.person_pub.publish(self._Bool(data=present))

    def reset(self, operator_id: str, reason: str = 'test') -> Any:
        from muse_supervisor.srv import ResetGate

        return self.call(
            ResetGate, 'reset', ResetGate.Request(operator_id=operator_id, reason=reason)
        )

    def execute_plan(self, plan: Any, cancel_when: Callable[[], Any] | None = None) -> PlanRun:
        """Send ``plan`` to the gate's ``execute_plan`` and wait for the result.

        With ``cancel_when``, the goal is canceled as soon as that condition holds once the goal
        has been accepted; ``PlanRun.canceled_at`` is when the cancel was sent.
        """
        from muse_supervisor.action import ExecutePlan

        client = self.plan_client
        assert client.wait_for_server(timeout_sec=TIMEOUT)
        run = PlanRun()
        sent = client.send_goal_async(
            ExecutePlan.Goal(plan=plan),
            feedback_callback=lambda m: run.feedback.append(m.feedback),
        )
        goal = wait_for(sent.done, what='goal response') and sent.result()
        assert goal.accepted
        if cancel_when is not None:
            try:
                wait_for(cancel_when, what='the moment to cancel')
            except TimeoutError as error:
                texts = [f.status_text for f in run.feedback]
                raise TimeoutError(f'{error}; feedback so far: {texts[-5:]}') from None
            run.canceled_at = time.monotonic()
            wait_for(goal.cancel_goal_async().done, what='cancel response')
        result = goal.get_result_async()
        wait_for(result.done, timeout=60, what='plan result')
        run.response = result.result()
        return run

    def call(self, service_type: Any, name: str, request: Any) -> Any:
        """Call a service of the gate and wait for the response.

        One client per service for the whole test: a client made just before a call can miss its
        response while DDS is still matching the reply channel.
        """
        client = self._clients.get(name)
        if client is None:
            client = self._clients[name] = self.node.create_client(service_type, name)
        assert client.wait_for_service(timeout_sec=TIMEOUT), f'{name} not available'
        future = client.call_async(request)
        wait_for(future.done, what=f'{name} response')
        return future.result()
