"""``muse-supervisor teleop``: the rclpy side of driving the gate by hand.

Publishes, at ``rate`` Hz, the supervisor heartbeat (``heartbeat``, ``std_msgs/Header`` stamped
now) and the current command on the gate's teleop source (``cmd_vel_teleop``,
``geometry_msgs/Twist``), and prints the gate's state when it changes. What the command is comes
from :mod:`muse_supervisor.teleop.core`.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from muse_supervisor.stack.signals import init_ros
from muse_supervisor.teleop.core import (
    HELP,
    Drive,
    Key,
    Limits,
    Steps,
    Velocity,
    parse_keys,
    status_line,
    step,
)


@dataclass(frozen=True)
class TeleopOptions:
    """What the ``teleop`` command was asked to do."""

    namespace: str
    topic: str
    limits: Limits
    steps: Steps
    # A fixed command (scripted use); None: read keys from the terminal.
    command: Velocity | None
    duration: float | None
    heartbeat_only: bool
    rate: float = 20.0


@dataclass
class _GateView:
    """What the teleop knows of the gate: its limits in force, the last state line printed."""

    limits: Limits
    line: str = ''


def _constant_names(message_type: Any, prefix: str) -> dict[int, str]:
    return {
        getattr(message_type, name): name[len(prefix) :].lower().replace('_', ' ')
        for name in dir(message_type)
        if name.startswith(prefix)
    }


@contextlib.contextmanager
def _raw_terminal(stream: TextIO) -> Iterator[None]:
    """Single key presses without Enter and without echo, restored on the way out."""
    import termios
    import tty

    fd = stream.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd, termios.TCSANOW)  # not TCSAFLUSH: keep keys typed already
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(stream: TextIO) -> list[Key]:
    fd = stream.fileno()
    if not select.select([fd], [], [], 0)[0]:
        return []
    data = os.read(fd, 64)
    if not data:  # end of input
        return [Key.QUIT]
    return parse_keys(data.decode(errors='replace'))


def run(options: TeleopOptions, keyboard: TextIO | None = None) -> int:
    """Drive until the duration is over, ``q`` is pressed, or SIGINT/SIGTERM/SIGHUP arrive."""
    import rclpy
    from geometry_msgs.msg import Twist
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Header

    from muse_supervisor.msg import GateStatus, StopReason

    stop = init_ros()
    node = rclpy.create_node('muse_teleop', namespace=options.namespace)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    heartbeat = node.create_publisher(Header, 'heartbeat', 10)
    command_pub = (
        None if options.heartbeat_only else node.create_publisher(Twist, options.topic, 10)
    )
    states = _constant_names(GateStatus, 'STATE_')
    causes = _constant_names(StopReason, 'CAUSE_')
    gate = _GateView(options.limits)

    def on_status(msg: Any) -> None:
        gate.limits = options.limits.narrowed(msg.max_linear_speed, msg.max_angular_speed)
        line = status_line(
            states.get(msg.state, str(msg.state)),
            msg.active_source,
            [causes.get(r.cause, str(r.cause)) for r in msg.stop_reasons],
        )
        if line != gate.line:
            gate.line = line
            print(line, flush=True)

    latched = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    node.create_subscription(GateStatus, 'gate_status', on_status, latched)

    def publish(velocity: Velocity) -> None:
        heartbeat.publish(Header(stamp=node.get_clock().now().to_msg(), frame_id='teleop'))
        if command_pub is not None:
            twist = Twist()
            twist.linear.x, twist.angular.z = velocity.linear, velocity.angular
            command_pub.publish(twist)

    interactive = options.command is None and not options.heartbeat_only
    velocity = options.command or Velocity()
    drive = Drive(time.monotonic(), options.duration)
    target = f'{node.get_namespace().rstrip("/")}/{options.topic}'
    what = 'heartbeat only' if options.heartbeat_only else f'commands on {target}'
    print(f'teleop: heartbeat on {node.get_namespace().rstrip("/")}/heartbeat, {what}', flush=True)
    period = 1.0 / options.rate
    next_tick = time.monotonic()
    terminal = _raw_terminal(keyboard) if interactive and keyboard else contextlib.nullcontext()
    try:
        with terminal:
            if interactive:
                print(HELP, flush=True)  # once keys are read one by one
            while not stop and not drive.over(time.monotonic()):
                if interactive and keyboard is not None:
                    for key in _read_keys(keyboard):
                        if key is Key.QUIT:
                            stop.requested = True
                            break
                        velocity = step(velocity, key, options.steps, gate.limits)
                        print(
                            f'command: {velocity.linear:+.2f} m/s {velocity.angular:+.2f} rad/s',
                            flush=True,
                        )
                now = time.monotonic()
                if now >= next_tick:
                    publish(gate.limits.clamp(velocity))
                    next_tick = max(next_tick + period, now)
                executor.spin_once(timeout_sec=min(period, max(0.0, next_tick - now)) / 2)
        # A last few zeros, so the gate stops at once rather than when the source times out.
        for _ in range(max(1, math.ceil(0.25 * options.rate))):
            publish(Velocity())
            executor.spin_once(timeout_sec=period)
        print('teleop: stopped (commanded zero)', flush=True)
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def keyboard_or_none() -> TextIO | None:
    """Standard input when it is a terminal to read keys from."""
    return sys.stdin if sys.stdin.isatty() else None
