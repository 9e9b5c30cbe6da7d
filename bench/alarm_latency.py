"""Benchmark of alarm-to-incident latency through the perception node, across processes.

Run from the repository root::

    .venv/jazzy/bin/python bench/alarm_latency.py              # about 2.5 minutes
    .venv/jazzy/bin/python bench/alarm_latency.py --cycles 4   # shorter

Processes: the installed ``perception_node`` (shipped parameters, ``autostart:=true``,
``recording:=false``, OCR at its default), an echo (``_ingest_roles.py echo``: a plain
rclpy node that republishes every ``Alarm`` and ``DiagnosticArray`` it receives on other topics,
at once) and, in the camera condition, a camera process (640x480 jpeg at 30 Hz into the node).
This process is the driver: it publishes ``alarms`` (``muse_supervisor/msg/Alarm``) and
``/diagnostics`` (``diagnostic_msgs/DiagnosticArray``), and receives ``incidents`` and the echo,
timing sends and receipts on its own monotonic clock (no clocks compared across processes).

Each cycle raises one alarm per incident kind, in random order, 40-80 ms apart: motor fault,
low battery, sensor fault, docking failed and unknown, each from an ``Alarm`` or a
``/diagnostics`` status (alternating from cycle to cycle), localization lost and comms loss
from an ``Alarm``. The first raise opens an incident; each later one adds a kind to it (the node
merges causes present together), so every measured raise changes the incident's headline and
goes out at once; repeated evidence would be coalesced to one update a second
(``perception/publishing.py``). Then every alarm is cleared (``active: false``, an OK status) and
the driver waits out the rules' 2 s hysteresis until the incident resolves before the next cycle.

Each raise carries ``bench_seq`` in its values, which the node keeps as the evidence attribute
``value.bench_seq``. Latency = arrival of the first ``incidents`` update whose evidence carries
that sequence number - its send time; the baseline is the arrival of the echo of the same
message - its send time (the same two transport hops without the node). Target: p99 <= 20 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import random
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ingest_roles import (
    REPO,
    Processes,
    role_argv,
    ros_env,
)
from latency_stats import summary_ms

CAMERA_TOPIC = '/bench/camera/image/compressed'
ECHO_ALARMS, ECHO_DIAGNOSTICS = '/bench_echo/alarms', '/bench_echo/diagnostics'
CLEAR_WAIT = 2.7  # s after the clears: clear_after 2.0 + one 10 Hz tick + margin
# kind -> (Alarm source, Alarm code), or None; diagnostics status name, or None.
TRIGGERS: dict[str, tuple[tuple[str, str] | None, str | None]] = {
    'motor_fault': (('drive_left', 'OVERCURRENT'), 'motor driver left'),
    'low_battery': (('bms', 'BATT_LOW'), 'battery'),
    'sensor_fault': (('lidar_front', 'TIMEOUT'), 'lidar front'),
    'docking_failed': (('dock_3', 'NO_CONTACT'), 'dock charger'),
    'unknown': (('plc_7', 'X42'), 'plc 7 status'),
    'localization_lost': (('amcl', 'POSE_LOST'), None),
    'comms_loss': (('fleet_link', 'HEARTBEAT_MISSED'), None),
}


def node_argv(executable: str) -> list[str]:
    """The perception node's command line (the installed executable, shipped parameters)."""
    return [
        executable,
        '--ros-args',
        '--params-file',
        str(REPO / 'config' / 'perception.yaml'),
        '-p',
        'autostart:=true',
        '-p',
        'recording:=false',
        '-r',
        f'image/compressed:={CAMERA_TOPIC}',
    ]


class Driver:
    """Publishes alarms and diagnostics; records every incident update and every echo."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from muse_supervisor.msg import Alarm, Incident

        self._types = (Alarm, DiagnosticArray, DiagnosticStatus, KeyValue)
        rclpy.init(args=['--ros-args', '--disable-external-lib-logs'])
        self._rclpy = rclpy
        self.node = rclpy.create_node('bench_alarm_driver')
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.alarm_pub = self.node.create_publisher(Alarm, '/alarms', reliable)
        self.diag_pub = self.node.create_publisher(DiagnosticArray, '/diagnostics', reliable)
        self.lock = threading.Condition()
        self.sent: dict[int, float] = {}
        self.at_node: dict[int, float] = {}
        self.at_echo: dict[int, float] = {}
        self.evidence: dict[int, int] = {}  # sequence -> evidence items in the update
        self.incidents: list[tuple[float, str, int, list[int], int]] = []
        self.node.create_subscription(Incident, '/incidents', self._on_incident, reliable)
        self.node.create_subscription(Alarm, ECHO_ALARMS, self._on_echo_alarm, reliable)
        self.node.create_subscription(
            DiagnosticArray, ECHO_DIAGNOSTICS, self._on_echo_diagnostics, reliable
        )
        self.node.create_timer(0.5, self._heartbeat)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):
            self.executor.spin()

    def close(self) -> None:
        """Stop spinning and shut rclpy down."""
        self.executor.shutdown()
        self._thread.join(5.0)
        self.node.destroy_node()
        self._rclpy.try_shutdown()

    # receipts (executor thread)
    def _seen(self, table: dict[int, float], sequences: Sequence[int], at: float) -> None:
        with self.lock:
            for sequence in sequences:
                table.setdefault(sequence, at)
            self.lock.notify_all()

    def _on_incident(self, msg: Any) -> None:
        at = time.perf_counter()
        sequences = [
            int(kv.value)
            for evidence in msg.evidence
            for kv in evidence.attributes
            if kv.key == 'value.bench_seq'
        ]
        with self.lock:
            self.incidents.append((at, msg.id, int(msg.state), list(msg.other_kinds), msg.kind))
            for sequence in sequences:
                self.evidence.setdefault(sequence, len(msg.evidence))
        self._seen(self.at_node, sequences, at)

    def _on_echo_alarm(self, msg: Any) -> None:
        at = time.perf_counter()
        self._seen(self.at_echo, [int(kv.value) for kv in msg.values if kv.key == 'bench_seq'], at)

    def _on_echo_diagnostics(self, msg: Any) -> None:
        at = time.perf_counter()
        sequences = [int(kv.value) for s in msg.status for kv in s.values if kv.key == 'bench_seq']
        self._seen(self.at_echo, sequences, at)

    def _heartbeat(self) -> None:
        self.diag_pub.publish(self._array([self._status(0, 'bench: heartbeat', 'OK')]))

    # sends
    def _status(self, level: int, name: str, message: str, sequence: int | None = None) -> Any:
        _, _, status_type, key_value = self._types
        status = status_type(level=bytes([level]), name=name, message=message)
        status.hardware_id = 'bench'
        if sequence is not None:
            status.values = [key_value(key='bench_seq', value=str(sequence))]
        return status

    def _array(self, statuses: list[Any]) -> Any:
        array = self._types[1]()
        array.header.stamp = self.node.get_clock().now().to_msg()
        array.status = statuses
        return array

    def raise_alarm(self, kind: str, use_diagnostics: bool, sequence: int) -> None:
        """Raise ``kind`` by an Alarm or a diagnostics status carrying ``sequence``."""
        alarm_ident, diag_name = TRIGGERS[kind]
        if use_diagnostics and diag_name is not None:
            msg = self._array(
                [
                    self._status(2, diag_name, 'bench fault'),
                    self._status(0, 'bench: heartbeat', 'OK'),
                ]
            )
            msg.status[0].values = [self._types[3](key='bench_seq', value=str(sequence))]
            publisher = self.diag_pub
        else:
            assert alarm_ident is not None
            msg = self._alarm(alarm_ident, True)
            msg.values = [self._types[3](key='bench_seq', value=str(sequence))]
            publisher = self.alarm_pub
        with self.lock:
            self.sent[sequence] = time.perf_counter()
        publisher.publish(msg)

    def _alarm(self, ident: tuple[str, str], active: bool) -> Any:
        alarm = self._types[0]()
        alarm.header.stamp = self.node.get_clock().now().to_msg()
        alarm.source, alarm.code = ident
        alarm.severity = 2
        alarm.active = active
        alarm.text = 'bench fault' if active else 'bench fault cleared'
        return alarm

    def clear(self, kind: str, use_diagnostics: bool) -> None:
        """Clear what :meth:`raise_alarm` raised for ``kind``."""
        alarm_ident, diag_name = TRIGGERS[kind]
        if use_diagnostics and diag_name is not None:
            self.diag_pub.publish(self._array([self._status(0, diag_name, 'OK')]))
        else:
            assert alarm_ident is not None
            self.alarm_pub.publish(self._alarm(alarm_ident, False))

    def wait_for(self, table: dict[int, float], sequence: int, timeout: float) -> bool:
        """Whether ``sequence`` arrived in ``table`` within ``timeout``."""
        deadline = time.perf_counter() + timeout
        with self.lock:
            while sequence not in table:
                left = deadline - time.perf_counter()
                if left <= 0:
                    return False
                self.lock.wait(left)
            return True

    def wait_gone(self, timeout: float = 10.0) -> None:
        """Until the stopped node's subscriptions and publisher have left the graph."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            gone = self.node.count_publishers('/incidents') == 0
            if gone and self.alarm_pub.get_subscription_count() <= 1:
                return
            time.sleep(0.1)

    def wait_matched(self, timeout: float = 30.0) -> None:
        """Until the node and the echo subscribe to both inputs and the node publishes."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if (
                self.alarm_pub.get_subscription_count() >= 2
                and self.diag_pub.get_subscription_count() >= 2
                and self.node.count_publishers('/incidents') >= 1
            ):
                return
            time.sleep(0.1)
        raise RuntimeError('the node or the echo never matched')


def run_cycle(driver: Driver, cycle: int, sequence: int) -> tuple[list[dict[str, Any]], int]:
    """Raise every kind (each a headline change), clear them, wait for the incident to resolve."""
    kinds = list(TRIGGERS)
    random.shuffle(kinds)
    plan = [
        (kind, TRIGGERS[kind][1] is not None and (cycle + i) % 2 == 1)
        for i, kind in enumerate(kinds)
    ]
    samples = []
    for position, (kind, diagnostics) in enumerate(plan):
        sequence += 1
        driver.raise_alarm(kind, diagnostics, sequence)
        samples.append(
            {
                'seq': sequence,
                'kind': kind,
                'input': 'diagnostics' if diagnostics else 'alarm',
                'change': 'opens incident' if position == 0 else 'adds a kind',
            }
        )
        time.sleep(random.uniform(0.04, 0.08))
    for sample in samples:  # the last ones may still be on their way
        driver.wait_for(driver.at_node, sample['seq'], 2.0)
        driver.wait_for(driver.at_echo, sample['seq'], 2.0)
    time.sleep(0.2)
    for kind, diagnostics in plan:
        driver.clear(kind, diagnostics)
        time.sleep(0.01)
    time.sleep(CLEAR_WAIT)
    return samples, sequence


def _measure(
    driver: Driver, cycles: int, sequence: int, condition: str
) -> tuple[list[dict[str, Any]], int]:
    out = []
    for cycle in range(cycles):
        samples, sequence = run_cycle(driver, cycle, sequence)
        for sample in samples:
            sent = driver.sent[sample['seq']]
            node = driver.at_node.get(sample['seq'])
            echo = driver.at_echo.get(sample['seq'])
            sample['condition'] = condition
            sample['node_ms'] = None if node is None else round(1e3 * (node - sent), 3)
            sample['echo_ms'] = None if echo is None else round(1e3 * (echo - sent), 3)
            sample['evidence_items'] = driver.evidence.get(sample['seq'])
            out.append(sample)
    return out, sequence


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency figures of one set of samples."""
    node = [s['node_ms'] / 1e3 for s in samples if s['node_ms'] is not None]
    echo = [s['echo_ms'] / 1e3 for s in samples if s['echo_ms'] is not None]
    n, e = summary_ms(node), summary_ms(echo)
    missing = sum(s['node_ms'] is None for s in samples)
    return {
        'node': n,
        'echo': e,
        'missing_at_node': missing,
        'missing_at_echo': sum(s['echo_ms'] is None for s in samples),
        'ratio_p50': round(n['p50_ms'] / e['p50_ms'], 2) if e['n'] else None,
        'ratio_p99': round(n['p99_ms'] / e['p99_ms'], 2) if e['n'] else None,
        'target_p99_ms': 20.0,
        'met': bool(
            n['n'] and n['p99_ms'] <= 20.0 and not sum(s['node_ms'] is None for s in samples)
        ),
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Start the processes, measure in alternating blocks, return everything for the JSON."""
    log_dir = Path(tempfile.mkdtemp(prefix='alarm-bench-'))
    env = ros_env(args.domain_id, log_dir, args.large_data)
    os.environ.update({k: env[k] for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')})
    os.environ['ROS_LOG_DIR'] = env['ROS_LOG_DIR']
    if args.large_data:
        os.environ['FASTDDS_BUILTIN_TRANSPORTS'] = 'LARGE_DATA'
    else:
        os.environ.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    processes = Processes(log_dir)
    results: dict[str, Any] = {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'machine': {
            'cpus': os.cpu_count(),
            'platform': platform.platform(),
            'python': platform.python_version(),
            'loadavg_at_start': [round(v, 2) for v in os.getloadavg()],
        },
        'settings': {
            'cycles_per_block': args.cycles,
            'kinds_per_cycle': len(TRIGGERS),
            'ros_domain_id': args.domain_id,
            'large_data': args.large_data,
            'node_command': node_argv(args.node_executable),
        },
    }
    blocks = ['idle', 'camera', 'camera', 'idle'] if args.camera else ['idle', 'idle']
    driver: Driver | None = None
    samples: list[dict[str, Any]] = []
    cpu: dict[str, list[float]] = {}
    wall = time.monotonic()
    try:
        processes.start('echo', role_argv('echo'), env)
        processes.start('node', node_argv(args.node_executable), env)
        driver = Driver()
        driver.wait_matched()
        time.sleep(1.0)
        sequence = 0
        # Warm-up cycle, not counted (first messages, first incident).
        _, sequence = run_cycle(driver, 0, sequence)
        for index, condition in enumerate(blocks):
            if index and condition != blocks[index - 1]:
                # A fresh node for each condition: incidents the camera's analyzers opened
                # (merged with the alarms' ones) must not carry over into the idle blocks.
                processes.stop('camera')
                processes.stop('node')
                driver.wait_gone()
                processes.start('node', node_argv(args.node_executable), env)
                driver.wait_matched()
                time.sleep(1.0)
                _, sequence = run_cycle(driver, 0, sequence)  # warm-up, not counted
            if condition == 'camera' and not processes.alive('camera'):
                camera = role_argv(
                    'camera', topic=CAMERA_TOPIC, record=str(log_dir / 'camera.json')
                )
                processes.start('camera', [*camera, '--compressed'], env)
                time.sleep(4.0)  # the camera is up, the analyzers have started
            started = time.monotonic()
            cpu_start = processes.cpu_seconds('node')
            print(f'[alarm] block {index + 1}/{len(blocks)}: {condition} ...', file=sys.stderr)
            block, sequence = _measure(driver, args.cycles, sequence, condition)
            elapsed = time.monotonic() - started
            cpu.setdefault(condition, []).append(
                round(100.0 * (processes.cpu_seconds('node') - cpu_start) / elapsed, 1)
            )
            samples += block
            s = summarise(block)
            print(
                f'[alarm] block {index + 1}: node p50 {s["node"]["p50_ms"]:.2f} p99 '
                f'{s["node"]["p99_ms"]:.2f} ms, echo p50 {s["echo"]["p50_ms"]:.2f} p99 '
                f'{s["echo"]["p99_ms"]:.2f} ms, missing {s["missing_at_node"]} '
                f'({elapsed:.1f} s)',
                file=sys.stderr,
                flush=True,
            )
        for name in ('node', 'echo'):
            if not processes.alive(name):
                raise RuntimeError(f'{name} exited:\n{processes.log_tail(name)}')
        kinds_seen = sorted({k for _, _, _, others, k in driver.incidents for k in [k, *others]})
        results['incident_updates'] = len(driver.incidents)
        results['incidents_opened'] = len({i for _, i, _, _, _ in driver.incidents})
        results['kinds_seen'] = kinds_seen
    finally:
        if driver is not None:
            driver.close()
        processes.stop_all()
    conditions = list(dict.fromkeys(blocks))
    results['conditions'] = {
        c: {
            **summarise([s for s in samples if s['condition'] == c]),
            'node_cpu_percent': cpu.get(c, []),
            'by_change': {
                change: summarise(
                    [s for s in samples if s['condition'] == c and s['change'] == change]
                )['node']
                for change in ('opens incident', 'adds a kind')
            },
            'by_input': {
                source: summarise(
                    [s for s in samples if s['condition'] == c and s['input'] == source]
                )['node']
                for source in ('alarm', 'diagnostics')
            },
        }
        for c in conditions
    }
    results['samples'] = samples
    results['wall_s'] = round(time.monotonic() - wall, 1)
    results['machine']['loadavg_at_end'] = [round(v, 2) for v in os.getloadavg()]
    return results


def table(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    rows = [
        '| condition | n | node p50 ms | node p99 ms | echo p50 ms | echo p99 ms '
        '| ratio p50 / p99 | missing | node CPU % | p99 <= 20 ms |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ]
    for condition, s in results['conditions'].items():
        rows.append(
            f'| {condition} | {s["node"]["n"]} | {s["node"]["p50_ms"]:.2f} '
            f'| {s["node"]["p99_ms"]:.2f} | {s["echo"]["p50_ms"]:.2f} | {s["echo"]["p99_ms"]:.2f} '
            f'| {s["ratio_p50"]} / {s["ratio_p99"]} | {s["missing_at_node"]} '
            f'| {", ".join(str(c) for c in s["node_cpu_percent"])} '
            f'| {"yes" if s["met"] else "**no**"} |'
        )
    return '\n'.join(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cycles', type=int, default=10, help='cycles per block (7 alarms each)')
    parser.add_argument(
        '--no-camera', dest='camera', action='store_false', help='skip the camera condition'
    )
    parser.add_argument(
        '--large-data', action='store_true', help='FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA'
    )
    parser.add_argument(
        '--domain-id', type=int, default=random.randint(100, 200), help='ROS_DOMAIN_ID'
    )
    parser.add_argument(
        '--node-executable', default=str(Path(sys.executable).parent / 'perception_node')
    )
    parser.add_argument(
        '--out', type=Path, default=REPO / 'bench' / 'results' / 'alarm_latency.json'
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    args = parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # the finally blocks stop every process

    signal.signal(signal.SIGTERM, terminate)
    results = run_bench(args)
    print(table(results))
    print(
        f'{results["incidents_opened"]} incidents, {results["incident_updates"]} updates, '
        f'kinds seen {results["kinds_seen"]}; wall time {results["wall_s"]} s'
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + '\n')
    print(f'results written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
