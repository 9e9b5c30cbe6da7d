"""``muse-supervisor teleop`` drives the real safety gate process over ROS.

The gate runs as ``safety_gate_node`` with the shipped parameters, as in
``test_safety_gate_ros.py``; nothing but the teleop publishes its heartbeat or commands. The
test plays the e-stop device (released) and listens to ``cmd_vel``.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from gate_harness import start_gate, stop_process, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CLI = Path(sys.prefix) / 'bin' / 'muse-supervisor'


@dataclass
class CmdVel:
    """Every ``cmd_vel`` the gate publishes: (receive time, linear.x, angular.z)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    seen: list[tuple[float, float, float]] = field(default_factory=list)

    def append(self, msg: Any) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def since(self, t: float) -> list[tuple[float, float, float]]:
        with self.lock:
            return [s for s in self.seen if s[0] > t]

    def last(self) -> tuple[float, float, float] | None:
        with self.lock:
            return self.seen[-1] if self.seen else None


@pytest.fixture
def gate(ros_context: Any) -> Iterator[tuple[str, CmdVel]]:
    from geometry_msgs.msg import Twist
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Bool

    namespace = f'/teleop_{uuid.uuid4().hex[:8]}'
    process = start_gate(namespace)
    node = Node('cmd_vel_listener', namespace=namespace, context=ros_context)
    cmd_vel = CmdVel()
    node.create_subscription(Twist, 'cmd_vel', cmd_vel.append, 100)
    # The robot's e-stop device, released (the gate counts an e-stop never heard as engaged).
    # The teleop never speaks for the e-stop.
    latched = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    node.create_publisher(Bool, 'estop', latched).publish(Bool(data=False))
    # The base's odometry: the shipped gate has a keep-out zone, so it stops while its pose is
    # unknown (fail closed), as it would on a robot whose odometry died.
    odom = node.create_publisher(Odometry, 'odom', 10)
    node.create_timer(0.05, lambda: odom.publish(Odometry()))  # at rest at the origin
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        wait_for(cmd_vel.last, what="the gate's first cmd_vel")
        yield namespace, cmd_vel
    finally:
        executor.shutdown()
        thread.join(timeout=5)
        node.destroy_node()
        output = stop_process(process)
        assert 'Traceback' not in output, output


def _moving_at(cmd_vel: CmdVel, since: float, speed: float) -> bool:
    return any(abs(linear - speed) < 1e-6 for _, linear, _ in cmd_vel.since(since))


def test_a_scripted_drive_moves_the_robot_within_the_limits_then_stops(
    gate: tuple[str, CmdVel],
) -> None:
    namespace, cmd_vel = gate
    # Without a heartbeat the gate holds the robot stopped: the reason the teleop exists.
    time.sleep(1.0)
    assert all(linear == 0 for _, linear, _ in cmd_vel.since(0))
    started = time.monotonic()
    drive = ['--linear', '0.2', '--angular', '0.1', '--duration', '4']
    result = subprocess.run(
        [str(CLI), 'teleop', '--namespace', namespace, *drive],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    ended = time.monotonic()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f'heartbeat on {namespace}/heartbeat' in result.stdout
    assert 'forwarding teleop' in result.stdout  # the teleop says what the gate does
    during = cmd_vel.since(started)
    assert _moving_at(cmd_vel, started, 0.2), during[-20:]
    assert any(abs(angular - 0.1) < 1e-6 for _, _, angular in during)
    assert max(linear for _, linear, _ in during) <= 0.2 + 1e-9
    # After the drive the gate commands zero (the teleop's last zeros, then the lapsed heartbeat).
    zero = wait_for(
        lambda: next((s for s in cmd_vel.since(ended) if s[1] == 0 and s[2] == 0), None),
        timeout=5,
        what='zero after the teleop ended',
    )
    time.sleep(1.0)
    assert all(linear == 0 for _, linear, _ in cmd_vel.since(zero[0]))


def test_keys_from_a_terminal_step_the_command(gate: tuple[str, CmdVel]) -> None:
    namespace, cmd_vel = gate
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(CLI), 'teleop', '--namespace', namespace, '--linear-step', '0.1'],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    os.close(terminal)
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith('keys:'):
                break
        started = time.monotonic()
        os.write(controller, b'ww')  # 0.2 m/s
        wait_for(lambda: _moving_at(cmd_vel, started, 0.2), what='0.2 m/s after two presses')
        os.write(controller, b's')
        stopped = time.monotonic()
        wait_for(
            lambda: any(s[1] == 0 for s in cmd_vel.since(stopped)), what='zero after s pressed'
        )
        os.write(controller, b'q')
        assert process.wait(timeout=20) == 0
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def test_teleop_refuses_what_the_gate_would_refuse() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), 'teleop', *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    beyond = run('--linear', '0.7', '--duration', '1')
    assert beyond.returncode == 2 and '--linear 0.7 is outside -0.5..0.5 m/s' in beyond.stderr
    no_keys = run()
    assert no_keys.returncode == 2 and 'no terminal to read keys from' in no_keys.stderr
    negative = run('--linear', '0.1', '--duration', '-1')
    assert negative.returncode == 2 and 'positive number of seconds' in negative.stderr
