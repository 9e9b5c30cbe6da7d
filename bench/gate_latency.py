"""Benchmark of the safety gate: added latency, stale-to-zero latency, stop latency under load.

Run from the repository root::

    .venv/jazzy/bin/python bench/gate_latency.py            # full run, about 3.5 minutes
    .venv/jazzy/bin/python bench/gate_latency.py --quick    # fewer samples, about 1 minute

Every ROS participant is a process of its own: the gate (the installed ``safety_gate_node``
executable with the shipped parameters), a raw rclpy relay (this file, ``--role relay``), a 1 kHz
odometry flooder (``--role flood``) and two busy loops (``--role busy``). This process is the
driver: it publishes the commands, the heartbeat (20 Hz, stamped with the current ROS time) and
the e-stop, calls the gate's ``reset`` service, and timestamps sends and receipts on one
monotonic clock, so no clocks are compared across processes.

1. Added latency: command in -> ``cmd_vel`` out through the gate, against the raw relay with the
   same message pattern, in alternating blocks of the same run. ``linear.x`` stays at 0.1 m/s
   (reached after a warm-up) and ``angular.z`` rises by 1e-4 rad/s per command, far below the
   gate's angular ramp step, so each output names the command it carries. The latency of a
   command is the time until the first output that carries it or a later command (a command the
   gate never forwards because a newer one replaced it counts until that newer one comes out).
2. Stale-to-zero: commands until the gate outputs non-zero, then silence; latency = first exactly
   zero output - send time of the last command, against timeout + one timer period.
3. Stop latency: e-stop true -> first zero output, unloaded and with both cores busy plus a
   1 kHz odometry flood on the gate, in alternating blocks; estop false and a ``reset`` call
   resume motion after each trial.

Results: a table on stdout and JSON at ``--out`` (default ``bench/results/gate_latency.json``).
ROS traffic stays on this host in its own domain (``--domain-id``, default 77); logs go to a
temporary folder. Every process started here is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_stats import summary_ms

REPO = Path(__file__).resolve().parents[1]
NAMESPACE = '/bench'
RAW_IN, RAW_OUT = '/bench_raw/cmd_in', '/bench_raw/cmd_out'
RAW_MT_IN, RAW_MT_OUT = '/bench_raw_mt/cmd_in', '/bench_raw_mt/cmd_out'
GATE_IN, GATE_OUT = f'{NAMESPACE}/cmd_vel_nav', f'{NAMESPACE}/cmd_vel'
LINEAR = 0.1  # m/s: within limits, constant once reached (the linear ramp takes 0.2 s)
ANGULAR_BASE, ANGULAR_STEP = 0.1, 1e-4  # rad/s; the angular ramp allows >= 0.025 per update
RATE_HZ, NAV_TIMEOUT, FAST_NAV_TIMEOUT = 20.0, 0.5, 0.1  # config/safety_gate.yaml, bench override
PERIOD = 1.0 / RATE_HZ


# ----- helper processes (roles) --------------------------------------------------------------
def _init_ros_process() -> Any:
    import rclpy

    rclpy.init(args=['--ros-args', '--disable-external-lib-logs'])
    return rclpy


def relay_main(args: argparse.Namespace) -> int:
    """A plain rclpy node that republishes every Twist it receives, at once."""
    rclpy = _init_ros_process()
    from geometry_msgs.msg import Twist
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    node = Node(args.name)
    # The gate's QoS: best-effort depth-1 input, default (reliable, depth 1) output.
    publisher = node.create_publisher(Twist, args.out_topic, 1)
    latest = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    node.create_subscription(Twist, args.in_topic, publisher.publish, latest)
    executor: Any = (
        MultiThreadedExecutor(num_threads=6)
        if args.executor == 'multi'
        else SingleThreadedExecutor()
    )
    executor.add_node(node)
    with contextlib.suppress(KeyboardInterrupt, Exception):
        executor.spin()
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def flood_main(args: argparse.Namespace) -> int:
    """Publish nav_msgs/Odometry on ``args.topic`` at ``args.rate`` Hz; write stats to a file."""
    rclpy = _init_ros_process()
    from nav_msgs.msg import Odometry

    node = rclpy.create_node('bench_flood')
    publisher = node.create_publisher(Odometry, args.topic, 1)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    msg = Odometry()
    msg.header.frame_id = 'odom'
    msg.pose.pose.orientation.w = 1.0
    period = 1.0 / args.rate
    start = time.perf_counter()
    deadline, sent, last_write = start, 0, 0.0
    while not stop.is_set():
        now = time.perf_counter()
        if now < deadline:
            time.sleep(deadline - now)
        deadline = max(deadline + period, time.perf_counter() - 10 * period)
        msg.header.stamp = node.get_clock().now().to_msg()
        msg.pose.pose.position.x = 1e-6 * (sent % 1000)
        publisher.publish(msg)
        sent += 1
        now = time.perf_counter()
        if now - last_write > 0.25:
            _write_json(Path(args.stats), {'sent': sent, 'seconds': now - start})
            last_write = now
    _write_json(Path(args.stats), {'sent': sent, 'seconds': time.perf_counter() - start})
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def _write_json(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_suffix('.tmp')
    temporary.write_text(json.dumps(data))
    temporary.replace(path)


# ----- process management --------------------------------------------------------------------
def helper_argv(role: str, **options: str) -> list[str]:
    """Command line of one of this file's helper processes (``--role``)."""
    argv = [sys.executable, str(Path(__file__).resolve()), '--role', role]
    for key, value in options.items():
        argv += [f'--{key.replace("_", "-")}', value]
    return argv


class Processes:
    """Child processes, each in a process group of its own; stop() ends a group, all of it."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``argv`` with its output in ``<log_dir>/<name>.log``."""
        with open(self.log_dir / f'{name}.log', 'wb') as log:
            process = subprocess.Popen(
                list(argv),
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines a process wrote."""
        path = self.log_dir / f'{name}.log'
        text = path.read_text(errors='replace') if path.exists() else ''
        return '\n'.join(text.splitlines()[-lines:])

    def cpu_seconds(self, name: str) -> float:
        """CPU time (user + system, all threads) a running process has used so far."""
        process = self.running.get(name)
        try:
            assert process is not None
            fields = Path(f'/proc/{process.pid}/stat').read_text().rsplit(')', 1)[1].split()
        except (AssertionError, OSError):
            return math.nan
        return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')

    def stop(self, name: str) -> None:
        """SIGINT the process group, then SIGTERM, then SIGKILL, until it has exited."""
        process = self.running.pop(name, None)
        if process is None:
            return
        for sig, wait in ((signal.SIGINT, 4.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            break
        # Anything left in the group (the process itself exited first): kill it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        for name in reversed(list(self.running)):
            self.stop(name)


# ----- the driver ----------------------------------------------------------------------------
class Recorder:
    """Receipts on one output topic: (receive time, linear.x, angular.z), in arrival order."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []
        self.changed = threading.Condition()

    def __call__(self, msg: Any) -> None:
        """Record one receipt (the subscription callback)."""
        received = time.perf_counter()
        with self.changed:
            self.samples.append((received, float(msg.linear.x), float(msg.angular.z)))
            self.changed.notify_all()

    def mark(self) -> int:
        """Index of the next receipt."""
        with self.changed:
            return len(self.samples)

    def since(self, index: int) -> list[tuple[float, float, float]]:
        """Receipts from ``index`` on."""
        with self.changed:
            return self.samples[index:]

    def wait(
        self, predicate: Callable[[tuple[float, float, float]], bool], index: int, timeout: float
    ) -> tuple[float, float, float] | None:
        """The first receipt from ``index`` on that satisfies ``predicate``, or None."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while True:
                for sample in self.samples[index:]:
                    if predicate(sample):
                        return sample
                index = len(self.samples)
                left = deadline - time.perf_counter()
                if left <= 0:
                    return None
                self.changed.wait(left)


class Driver:
    """The bench's own ROS node: commands, heartbeat, e-stop, reset calls, output receipts."""

    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool, Header

        from muse_supervisor.srv import ResetGate

        self._rclpy, self._twist, self._bool, self._header = rclpy, Twist, Bool, Header
        self._reset_type = ResetGate
        rclpy.init(args=['--ros-args', '--disable-external-lib-logs'])
        self.node = rclpy.create_node('bench_driver')
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        outputs = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.publishers = {
            topic: self.node.create_publisher(Twist, topic, reliable)
            for topic in (GATE_IN, RAW_IN, RAW_MT_IN)
        }
        self.recorders = {topic: Recorder() for topic in (GATE_OUT, RAW_OUT, RAW_MT_OUT)}
        for topic, recorder in self.recorders.items():
            self.node.create_subscription(Twist, topic, recorder, outputs)
        # Latched, as a safety PLC's e-stop often is: the gate counts an e-stop it has not heard
        # since start as engaged, and hears this one (released) as soon as it matches.
        self.estop_pub = self.node.create_publisher(
            Bool,
            f'{NAMESPACE}/estop',
            QoSProfile(
                depth=1,
                reliability=ReliabilityPolicy.RELIABLE,
                durability=DurabilityPolicy.TRANSIENT_LOCAL,
            ),
        )
        self.estop_pub.publish(Bool(data=False))
        self.heartbeat_pub = self.node.create_publisher(
            Header,
            f'{NAMESPACE}/heartbeat',
            QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT),
        )
        self.reset_client = self.node.create_client(ResetGate, f'{NAMESPACE}/reset')
        self.node.create_timer(PERIOD, self._beat)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name='driver-spin', daemon=True)
        self._thread.start()
        self._commanding = threading.Event()
        self._command_thread: threading.Thread | None = None

    def _spin(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.spin()

    def _beat(self) -> None:
        msg = self._header(frame_id='bench')
        msg.stamp = self.node.get_clock().now().to_msg()
        self.heartbeat_pub.publish(msg)

    def send(self, topic: str, linear: float, angular: float) -> float:
        """Publish one Twist on ``topic``; return the send time (taken just before)."""
        msg = self._twist()
        msg.linear.x = linear
        msg.angular.z = angular
        sent = time.perf_counter()
        self.publishers[topic].publish(msg)
        return sent

    def estop(self, engaged: bool) -> float:
        """Publish the e-stop state; return the send time."""
        msg = self._bool(data=engaged)
        sent = time.perf_counter()
        self.estop_pub.publish(msg)
        return sent

    def reset(self, reason: str, timeout: float = 5.0) -> tuple[bool, str]:
        """Call the gate's reset service; return (success, message)."""
        request = self._reset_type.Request(operator_id='bench', reason=reason)
        future = self.reset_client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            self.reset_client.remove_pending_request(future)
            return False, 'no response'
        response = future.result()
        return bool(response.success), str(response.message)

    def start_commands(self, topic: str, linear: float, angular: float) -> None:
        """Publish a constant command at a jittered ~33 Hz from a thread until stopped."""
        self.stop_commands()
        self._commanding.set()
        rng = random.Random(7)

        def loop() -> None:
            while self._commanding.is_set():
                self.send(topic, linear, angular)
                time.sleep(rng.uniform(0.02, 0.04))

        self._command_thread = threading.Thread(target=loop, name='commands', daemon=True)
        self._command_thread.start()

    def stop_commands(self) -> None:
        """Stop the command thread, if any."""
        self._commanding.clear()
        if self._command_thread is not None:
            self._command_thread.join()
            self._command_thread = None

    def wait_matched(self, timeout: float = 20.0) -> None:
        """Wait until every publisher has its subscriber and the reset service is there."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            pubs = [*self.publishers.values(), self.estop_pub, self.heartbeat_pub]
            if all(p.get_subscription_count() > 0 for p in pubs) and (
                self.reset_client.service_is_ready()
            ):
                return
            time.sleep(0.05)
        raise RuntimeError('the gate or a relay did not appear on the ROS graph in time')

    def close(self) -> None:
        """Stop the command thread and the executor, then shut ROS down."""
        self.stop_commands()
        self.executor.shutdown()
        self._thread.join(timeout=5)
        self.node.destroy_node()
        self._rclpy.try_shutdown()


def _nonzero(sample: tuple[float, float, float]) -> bool:
    return sample[1] != 0.0 or sample[2] != 0.0


def _zero(sample: tuple[float, float, float]) -> bool:
    return sample[1] == 0.0 and sample[2] == 0.0


# ----- 1. added latency ----------------------------------------------------------------------
def latency_block(
    driver: Driver, topic_in: str, topic_out: str, count: int, rng: random.Random
) -> dict[str, Any]:
    """Send ``count`` commands at 25-50 Hz; return per-command latencies and counts."""
    recorder = driver.recorders[topic_out]
    warmup_end = time.perf_counter() + 0.6  # the gate ramps linear.x 0 -> 0.1 in 0.2 s
    while time.perf_counter() < warmup_end:
        driver.send(topic_in, LINEAR, ANGULAR_BASE)
        time.sleep(rng.uniform(0.02, 0.04))
    mark = recorder.mark()
    sends = [0.0]
    for k in range(1, count + 1):
        sends.append(driver.send(topic_in, LINEAR, ANGULAR_BASE + k * ANGULAR_STEP))
        time.sleep(rng.uniform(0.02, 0.04))
    time.sleep(0.2)
    receipts = recorder.since(mark)
    first: dict[int, float] = {}
    for received, linear, angular in receipts:
        k = round((angular - ANGULAR_BASE) / ANGULAR_STEP)
        if linear != LINEAR or angular != ANGULAR_BASE + k * ANGULAR_STEP or not 1 <= k <= count:
            continue
        first.setdefault(k, received)
    latencies, any_output, direct, lost = [], [], 0, 0
    times = [r[0] for r in receipts]
    best, position = math.inf, len(times)
    for k in range(count, 0, -1):
        best = min(best, first.get(k, math.inf))
        if best == math.inf:
            lost += 1
            continue
        latencies.append(best - sends[k])
        direct += k in first
        # First output of any value after this command (the next timer tick counts).
        while position > 0 and times[position - 1] > sends[k]:
            position -= 1
        if position < len(times):
            any_output.append(times[position] - sends[k])
    return {
        'latencies': latencies,
        'any_output': any_output,
        'direct': direct,
        'superseded': count - direct - lost,
        'lost': lost,
    }


def added_latency(
    driver: Driver,
    processes: Processes,
    variants: dict[str, tuple[str, str, str]],
    blocks: int,
    per_block: int,
) -> dict[str, Any]:
    """Alternate blocks of the same pattern over every variant (gate, raw relays).

    ``variants`` maps a name to (input topic, output topic, process name).
    """
    rng = random.Random(1)
    merged: dict[str, dict[str, Any]] = {
        name: {
            'latencies': [],
            'any_output': [],
            'direct': 0,
            'superseded': 0,
            'lost': 0,
            'cpu': 0.0,
            'wall': 0.0,
        }
        for name in variants
    }
    names = list(variants)
    for block in range(blocks):
        for name in names if block % 2 == 0 else names[::-1]:
            topic_in, topic_out, process = variants[name]
            cpu, started = processes.cpu_seconds(process), time.perf_counter()
            result = latency_block(driver, topic_in, topic_out, per_block, rng)
            merged[name]['cpu'] += processes.cpu_seconds(process) - cpu
            merged[name]['wall'] += time.perf_counter() - started
            for key, value in result.items():
                merged[name][key] += value
            time.sleep(0.3)
    out: dict[str, Any] = {}
    for name, data in merged.items():
        out[name] = {
            **summary_ms(data['latencies']),
            'first_output_after_input': summary_ms(data['any_output']),
            'forwarded_directly': data['direct'],
            'superseded_before_forwarded': data['superseded'],
            'lost': data['lost'],
            'cpu_percent_while_driven': round(100 * data['cpu'] / data['wall'], 1),
            'samples_ms': [round(s * 1e3, 3) for s in data['latencies']],
        }
    return out


# ----- 2. stale to zero ----------------------------------------------------------------------
def stale_to_zero(driver: Driver, cutoffs: int, timeout: float, seed: int) -> dict[str, Any]:
    """Cut commands off ``cutoffs`` times; latency = first zero output - last command sent."""
    rng = random.Random(seed)
    recorder = driver.recorders[GATE_OUT]
    latencies: list[float] = []
    failures = 0
    for _ in range(cutoffs):
        mark = recorder.mark()
        started = time.perf_counter()
        moving_since: float | None = None
        last_sent = 0.0
        while True:
            last_sent = driver.send(GATE_IN, LINEAR, 0.2)
            now = time.perf_counter()
            if moving_since is None and any(_nonzero(s) for s in recorder.since(mark)):
                moving_since = now + rng.uniform(0.0, 0.1)  # a random phase to the timer
            if (moving_since is not None and now >= moving_since) or now - started > 3.0:
                break
            time.sleep(0.02)
        if moving_since is None:
            failures += 1
            continue
        zero = recorder.wait(lambda s, t=last_sent: s[0] > t and _zero(s), mark, timeout + 2.0)
        if zero is None:
            failures += 1
            continue
        latencies.append(zero[0] - last_sent)
        time.sleep(rng.uniform(0.02, 0.05))
    bound = timeout + PERIOD
    result = summary_ms(latencies)
    result.update(
        source_timeout_s=timeout,
        bound_ms=round(bound * 1e3, 3),
        over_bound=sum(latency > bound for latency in latencies),
        failed_trials=failures,
        samples_ms=[round(s * 1e3, 3) for s in latencies],
    )
    return result


# ----- 3. stop latency under load ------------------------------------------------------------
def estop_trials(
    driver: Driver, trials: int, rng: random.Random, label: str
) -> tuple[list[float], list[float], int]:
    """E-stop latencies (s), raw relay round trips under the same load (s), failed trials."""
    recorder = driver.recorders[GATE_OUT]
    raw = driver.recorders[RAW_OUT]
    stops: list[float] = []
    raw_trips: list[float] = []
    failures = 0
    mark = recorder.mark()
    for trial in range(trials):
        if recorder.wait(_nonzero, mark, 5.0) is None:
            failures += 1
            driver.reset(f'bench {label}: motion did not resume')
            mark = recorder.mark()
            continue
        time.sleep(rng.uniform(0.03, 0.08))
        mark = recorder.mark()
        engaged = driver.estop(True)
        zero = recorder.wait(lambda s, t=engaged: s[0] > t and _zero(s), mark, 3.0)
        if zero is None:
            failures += 1
        else:
            stops.append(zero[0] - engaged)
        # The raw relay under the same load: one round trip with a value of its own.
        value = 0.3 + 1e-4 * (trial + 1)
        raw_mark = raw.mark()
        sent = driver.send(RAW_IN, LINEAR, value)
        echo = raw.wait(lambda s, v=value: s[2] == v, raw_mark, 1.0)
        if echo is not None:
            raw_trips.append(echo[0] - sent)
        time.sleep(0.05)
        driver.estop(False)
        for attempt in range(10):
            time.sleep(0.03 * (attempt + 1))
            ok, _ = driver.reset(f'bench {label} trial {trial}')
            if ok:
                break
        mark = recorder.mark()
    return stops, raw_trips, failures


def stop_latency(
    driver: Driver, processes: Processes, trials: int, conditions: Sequence[str], flood_hz: float
) -> dict[str, Any]:
    """E-stop latency per load condition, in alternating blocks of half the trials each."""
    rng = random.Random(3)
    data: dict[str, dict[str, Any]] = {
        c: {'stops': [], 'raw': [], 'failures': 0, 'flood_hz': [], 'cpu': 0.0, 'wall': 0.0}
        for c in conditions
    }
    driver.start_commands(GATE_IN, LINEAR, 0.0)
    try:
        for block in range(2):
            for condition in conditions if block == 0 else conditions[::-1]:
                stats = _start_load(processes, condition, flood_hz)
                cpu, started = processes.cpu_seconds('gate'), time.perf_counter()
                try:
                    stops, raw, failures = estop_trials(driver, trials // 2, rng, condition)
                finally:
                    data[condition]['cpu'] += processes.cpu_seconds('gate') - cpu
                    data[condition]['wall'] += time.perf_counter() - started
                    rate = _stop_load(processes, stats)
                data[condition]['stops'] += stops
                data[condition]['raw'] += raw
                data[condition]['failures'] += failures
                if rate is not None:
                    data[condition]['flood_hz'].append(rate)
    finally:
        driver.stop_commands()
    out: dict[str, Any] = {}
    for condition, values in data.items():
        out[condition] = {
            **summary_ms(values['stops']),
            'raw_relay_round_trip': summary_ms(values['raw']),
            'failed_trials': values['failures'],
            'flood_rate_hz': [round(r, 1) for r in values['flood_hz']],
            'gate_cpu_percent': round(100 * values['cpu'] / values['wall'], 1),
            'samples_ms': [round(s * 1e3, 3) for s in values['stops']],
        }
    return out


_CONDITIONS = {
    'unloaded': (0, False),
    'loaded': (2, True),  # both cores busy + 1 kHz odom flood: the target condition
    'cpu_only': (2, False),
    'flood_only': (0, True),
}


def _start_load(processes: Processes, condition: str, flood_hz: float) -> Path | None:
    busy, flood = _CONDITIONS[condition]
    stats = None
    if flood:
        stats = processes.log_dir / f'flood-{time.monotonic_ns()}.json'
        topic = f'{NAMESPACE}/odom'
        processes.start(
            'flood', helper_argv('flood', topic=topic, rate=str(flood_hz), stats=str(stats))
        )
        deadline = time.perf_counter() + 20.0
        while not stats.exists():
            if time.perf_counter() > deadline:
                raise RuntimeError(
                    'the flood publisher did not start:\n' + processes.log_tail('flood')
                )
            time.sleep(0.05)
    for index in range(busy):
        processes.start(f'busy{index}', [sys.executable, '-S', '-c', 'while True: pass'])
    time.sleep(1.0)  # let the load settle (and the flood be discovered)
    return stats


def _stop_load(processes: Processes, stats: Path | None) -> float | None:
    for name in ('busy0', 'busy1'):
        processes.stop(name)
    if stats is None:
        return None
    processes.stop('flood')
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(stats.read_text())
        return float(data['sent']) / max(float(data['seconds']), 1e-9)
    return None


# ----- orchestration -------------------------------------------------------------------------
def gate_argv(executable: str, params: Sequence[Path]) -> list[str]:
    """The gate's command line, as the brief and `muse-supervisor up` start it."""
    argv = [executable, '--ros-args', '-r', f'__ns:={NAMESPACE}', '-r', '__node:=safety_gate']
    for path in params:
        argv += ['--params-file', str(path)]
    return [*argv, '-p', 'autostart:=true']


def wait_moving(driver: Driver, processes: Processes, name: str, timeout: float = 30.0) -> None:
    """Command the gate until it forwards motion (it is up, active and the heartbeat is fresh)."""
    recorder = driver.recorders[GATE_OUT]
    mark = recorder.mark()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        process = processes.running.get(name)
        if process is None or process.poll() is not None:
            raise RuntimeError(f'{name} exited:\n{processes.log_tail(name)}')
        driver.send(GATE_IN, LINEAR, 0.0)
        if recorder.wait(_nonzero, mark, 0.03) is not None:
            return
    raise RuntimeError(f'{name} never forwarded a command:\n{processes.log_tail(name)}')


def start_gate(
    driver: Driver, processes: Processes, args: argparse.Namespace, params: Sequence[Path]
) -> float:
    """Start a gate process and wait until it forwards commands; return the start-up time."""
    started = time.perf_counter()
    processes.start('gate', gate_argv(args.gate_executable, params))
    wait_moving(driver, processes, 'gate')
    return time.perf_counter() - started


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run the three measurements; return everything the JSON file holds."""
    quick = args.quick
    log_dir = Path(tempfile.mkdtemp(prefix='gate-bench-'))
    os.environ['ROS_DOMAIN_ID'] = str(args.domain_id)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_LOG_DIR'] = str(log_dir / 'ros')
    os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    processes = Processes(dict(os.environ), log_dir)
    shipped = REPO / 'config' / 'safety_gate.yaml'
    fast = REPO / 'bench' / 'gate_fast_stale.yaml'
    results: dict[str, Any] = {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'mode': 'quick' if quick else 'full',
        'machine': {
            'cpus': os.cpu_count(),
            'platform': platform.platform(),
            'python': platform.python_version(),
            'loadavg_at_start': [round(v, 2) for v in os.getloadavg()],
        },
        'gate_command': gate_argv(args.gate_executable, [shipped]),
        'ros_domain_id': args.domain_id,
    }
    driver: Driver | None = None
    wall = time.perf_counter()
    try:
        with _phase('start-up'):
            results['machine']['rclpy'] = _version('ros-jazzy-rclpy') or _version('ros-rclpy')
            results['machine']['rmw'] = os.environ.get('RMW_IMPLEMENTATION', 'rmw_fastrtps_cpp')
            driver = Driver()
            processes.start(
                'relay', helper_argv('relay', name='raw_relay', in_topic=RAW_IN, out_topic=RAW_OUT)
            )
            if not quick:
                argv = helper_argv(
                    'relay', name='raw_relay_mt', in_topic=RAW_MT_IN, out_topic=RAW_MT_OUT
                )
                processes.start('relay_mt', [*argv, '--executor', 'multi'])
            results['gate_startup_s'] = round(start_gate(driver, processes, args, [shipped]), 2)
            if quick:
                driver.publishers.pop(RAW_MT_IN)
            driver.wait_matched()

        with _phase('1. added latency'), _part(args, '1'):
            variants = {
                'gate': (GATE_IN, GATE_OUT, 'gate'),
                'raw_relay': (RAW_IN, RAW_OUT, 'relay'),
            }
            if not quick:
                variants['raw_relay_multithreaded'] = (RAW_MT_IN, RAW_MT_OUT, 'relay_mt')
            blocks, per_block = (2, 150) if quick else (4, 250)
            results['added_latency'] = added_latency(
                driver, processes, variants, blocks, per_block
            )
            if not quick:
                processes.stop('relay_mt')

        with _phase('3. stop latency'), _part(args, '3'):
            conditions = ['unloaded', 'loaded']
            if args.diagnose:
                conditions += ['cpu_only', 'flood_only']
            trials = 16 if quick else 50
            results['stop_latency'] = stop_latency(
                driver, processes, trials, conditions, args.flood_hz
            )

        with _phase('2. stale to zero (shipped 0.5 s timeout)'), _part(args, '2'):
            cutoffs = 5 if quick else 20
            results['stale_to_zero_shipped'] = stale_to_zero(driver, cutoffs, NAV_TIMEOUT, 5)

        processes.stop('gate')
        with _phase('2. stale to zero (bench 0.1 s timeout)'), _part(args, '2'):
            startup = start_gate(driver, processes, args, [shipped, fast])
            results['gate_fast_stale_startup_s'] = round(startup, 2)
            cutoffs = 60 if quick else 200
            results['stale_to_zero'] = stale_to_zero(driver, cutoffs, FAST_NAV_TIMEOUT, 6)
            results['stale_to_zero']['params_files'] = [
                str(shipped.relative_to(REPO)),
                str(fast.relative_to(REPO)),
            ]
    finally:
        if driver is not None:
            driver.close()
        processes.stop_all()
    results['wall_s'] = round(time.perf_counter() - wall, 1)
    results['machine']['loadavg_at_end'] = [round(v, 2) for v in os.getloadavg()]
    return results


class _SkippedError(Exception):
    pass


@contextlib.contextmanager
def _part(args: argparse.Namespace, part: str) -> Iterator[None]:
    """Run the block only when ``part`` is selected (``--only``)."""
    if part not in args.only.split(','):
        raise _SkippedError
    yield


@contextlib.contextmanager
def _phase(name: str) -> Iterator[None]:
    started = time.perf_counter()
    print(f'[bench] {name} ...', file=sys.stderr, flush=True)
    try:
        yield
    except _SkippedError:
        print(f'[bench] {name}: skipped (--only)', file=sys.stderr, flush=True)
        return
    print(f'[bench] {name}: {time.perf_counter() - started:.1f} s', file=sys.stderr, flush=True)


def _version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


# ----- report --------------------------------------------------------------------------------
def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    rows = [
        '| measurement | n | p50 ms | p99 ms | max ms | target | met |',
        '| --- | ---: | ---: | ---: | ---: | --- | --- |',
    ]

    def row(name: str, s: dict[str, Any], target: str = '', met: str = '') -> None:
        rows.append(
            f'| {name} | {s["n"]} | {s["p50_ms"]:.2f} | {s["p99_ms"]:.2f} | {s["max_ms"]:.2f} '
            f'| {target} | {met} |'
        )

    added = results.get('added_latency')
    if added:
        gate, raw = added['gate'], added['raw_relay']
        ratio50 = gate['p50_ms'] / raw['p50_ms']
        ratio99 = gate['p99_ms'] / raw['p99_ms']
        row('1. gate: command -> cmd_vel', gate, 'p50 <= 1.25 x raw', _yes(ratio50 <= 1.25))
        row('1. raw rclpy relay (single-threaded executor)', raw)
        if 'raw_relay_multithreaded' in added:
            row('1. raw relay, MultiThreadedExecutor(6)', added['raw_relay_multithreaded'])
        first = gate['first_output_after_input']
        row('1. gate: first cmd_vel of any value after a command', first)
        rows.append(
            f'| 1. ratio gate / raw | | {ratio50:.2f} | {ratio99:.2f} | | p50 <= 1.25 '
            f'| {_yes(ratio50 <= 1.25)} |'
        )
    for key, label in (('stale_to_zero_shipped', 'shipped'), ('stale_to_zero', 'bench')):
        if key in results:
            s = results[key]
            row(
                f'2. stale -> zero, {label} timeout {s["source_timeout_s"]:g} s',
                s,
                f'<= {s["bound_ms"]:.0f} ms (timeout + period)',
                _yes(s['max_ms'] <= s['bound_ms'])
                + (f' ({s["over_bound"]} over)' if s['over_bound'] else ''),
            )
    stops = results.get('stop_latency', {})
    base = stops.get('unloaded')
    for condition, s in stops.items():
        target, met = '', ''
        if condition != 'unloaded' and base is not None:
            limit = base['p99_ms'] + 20.0
            target = f'p99 <= {limit:.1f} (unloaded + 20)' if condition == 'loaded' else ''
            met = _yes(s['p99_ms'] <= limit) if condition == 'loaded' else ''
        row(f'3. e-stop -> zero, {condition}', s, target, met)
        row(f'3. raw relay round trip, {condition}', s['raw_relay_round_trip'])
    return '\n'.join(rows)


def _yes(value: bool) -> str:
    return 'yes' if value else '**no**'


def notes(results: dict[str, Any]) -> str:
    """Counts behind the table that the table cannot show."""
    lines = []
    added = results.get('added_latency')
    if added:
        gate, raw = added['gate'], added['raw_relay']
        lines += [
            f'gate: {gate["forwarded_directly"]} commands forwarded as sent, '
            f'{gate["superseded_before_forwarded"]} replaced by a newer one before the gate '
            f'forwarded them, {gate["lost"]} lost; raw relay: {raw["lost"]} lost',
            f'added latency p50: {gate["p50_ms"] - raw["p50_ms"]:.2f} ms, '
            f'p99: {gate["p99_ms"] - raw["p99_ms"]:.2f} ms',
        ]
        cpu = ', '.join(
            f'{name} {data["cpu_percent_while_driven"]}%' for name, data in added.items()
        )
        lines.append(f'CPU while driven at ~33 Hz: {cpu}')
    for condition, s in results.get('stop_latency', {}).items():
        lines.append(f'{condition}: gate CPU {s["gate_cpu_percent"]}%')
        if s['flood_rate_hz']:
            lines.append(f'{condition}: odom flood achieved {s["flood_rate_hz"]} Hz')
        if s['failed_trials']:
            lines.append(f'{condition}: {s["failed_trials"]} failed e-stop trials')
    lines.append(f'wall time {results["wall_s"]} s ({results["mode"]})')
    return '\n'.join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options; --role selects a helper process (used by the bench itself)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true', help='fewer samples (< 90 s)')
    parser.add_argument(
        '--out', type=Path, default=REPO / 'bench' / 'results' / 'gate_latency.json'
    )
    parser.add_argument('--domain-id', type=int, default=77, help='ROS_DOMAIN_ID of this run')
    parser.add_argument(
        '--only', default='1,2,3', help='parts to run, comma-separated (default: 1,2,3)'
    )
    parser.add_argument('--flood-hz', type=float, default=1000.0)
    parser.add_argument(
        '--diagnose',
        action='store_true',
        help='also measure the stop latency with only the CPU load and with only the flood',
    )
    parser.add_argument(
        '--gate-executable',
        default=str(Path(sys.executable).parent / 'safety_gate_node'),
        help="gate executable to measure (default: the venv's safety_gate_node)",
    )
    roles = ['bench', 'relay', 'flood']
    parser.add_argument('--role', default='bench', choices=roles, help=argparse.SUPPRESS)
    parser.add_argument('--name', default='raw_relay', help=argparse.SUPPRESS)
    parser.add_argument('--in-topic', help=argparse.SUPPRESS)
    parser.add_argument('--out-topic', help=argparse.SUPPRESS)
    parser.add_argument('--executor', default='single', help=argparse.SUPPRESS)
    parser.add_argument('--topic', help=argparse.SUPPRESS)
    parser.add_argument('--rate', type=float, default=1000.0, help=argparse.SUPPRESS)
    parser.add_argument('--stats', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: the bench itself, or one of its helper processes."""
    args = parse_args(argv)
    if args.role == 'relay':
        return relay_main(args)
    if args.role == 'flood':
        return flood_main(args)

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # runs the finally blocks that stop every process

    signal.signal(signal.SIGTERM, terminate)
    results = run_bench(args)
    print(table(results))
    print(notes(results))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + '\n')
    print(f'results written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
