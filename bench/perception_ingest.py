"""Benchmark of camera ingest by the perception node, across processes, at 30 Hz.

Run from the repository root::

    .venv/jazzy/bin/python bench/perception_ingest.py               # 8 cases x 2, ~6 minutes
    .venv/jazzy/bin/python bench/perception_ingest.py --seconds 5   # shorter windows

Cases: 640x480 and 1280x720, raw (``sensor_msgs/Image`` rgb8) and compressed
(``sensor_msgs/CompressedImage`` jpeg), each with and without
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` in the environment of every process of the case. Each
case runs ``--repeats`` times (default 2), the second pass in the reverse order of the first.

One run of a case: a camera process (``_ingest_roles.py camera``) publishes drawn scenes at 30 Hz,
stamped with the wall clock at send; a bare subscriber process (``_ingest_roles.py bare``, a
plain rclpy node, sensor-data QoS like the node's) records each frame's receive time. First a
window with the bare subscriber alone (``--baseline-seconds``); then the installed
``perception_node`` starts (shipped parameters, ``autostart:=true``, ``recording:=false``,
OCR at its default 0.5 Hz, ``image`` or ``image/compressed`` remapped to the camera topic) and,
after a warm-up, a second window (``--seconds``) with both. The node's code is not changed: a
``sitecustomize`` on its ``PYTHONPATH`` wraps its two camera callbacks to record each frame's
stamp and the callback's entry and exit time, and writes the analyzer workers' statistics.

Numbers per run (all frames counted by their send stamp inside the window):

- frames published, received by the bare subscriber, received by the node (callback entered);
- analyzer runs and frames each analyzer skipped (the latest-frame policy), per second;
- CPU (user + system from ``/proc/<pid>/stat``) of the node, the bare subscriber and the
  camera, as % of one core over the window;
- receive latency = callback entry (wall clock) - send stamp, at the node and at the bare
  subscriber in the same window; **added latency = node p50 / bare p50** (target <= 1.1);
- the bare subscriber's p50 alone (first window) against its p50 beside the node (second).

Results: a table on stdout, JSON at ``--out`` (default ``bench/results/perception_ingest.json``).
Every process started here is stopped at the end, whatever happens.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _ingest_roles import (
    REPO,
    Processes,
    make_sitecustomize,
    read_json,
    role_argv,
    ros_env,
)
from latency_stats import summary_ms

TOPIC = '/bench/camera/image'
SIZES = {'640x480': (640, 480), '1280x720': (1280, 720)}


def case_list() -> list[dict[str, Any]]:
    """The eight cases, in the order of the first pass."""
    return [
        {'size': size, 'encoding': encoding, 'large_data': large}
        for size in SIZES
        for encoding in ('raw', 'jpeg')
        for large in (False, True)
    ]


def case_name(case: dict[str, Any]) -> str:
    """e.g. ``640x480 raw LARGE_DATA``."""
    transport = 'LARGE_DATA' if case['large_data'] else 'default'
    return f'{case["size"]} {case["encoding"]} {transport}'


def node_argv(executable: str, compressed: bool) -> list[str]:
    """The perception node's command line (the installed executable, shipped parameters)."""
    remap = f'image/compressed:={TOPIC}/compressed' if compressed else f'image:={TOPIC}'
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
        remap,
    ]


def _wait(predicate: Any, timeout: float, what: str, processes: Processes) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for name in list(processes.running):
            if not processes.alive(name):
                raise RuntimeError(f'{name} exited:\n{processes.log_tail(name)}')
        time.sleep(0.1)
    raise RuntimeError(f'timed out waiting for {what}')


def _in_window(records: list[Any], start: float, end: float) -> list[Any]:
    return [r for r in records if start <= r[0] < end]


def _latencies(records: list[Any]) -> list[float]:
    return [r[1] - r[0] for r in records]


def _cpu(processes: Processes, names: Sequence[str]) -> dict[str, float]:
    return {name: processes.cpu_seconds(name) for name in names}


def run_case(
    case: dict[str, Any], args: argparse.Namespace, log_dir: Path, site: Path, index: int
) -> dict[str, Any]:
    """One run of one case; returns its figures."""
    width, height = SIZES[case['size']]
    compressed = case['encoding'] == 'jpeg'
    run_dir = log_dir / f'run{index:02d}'
    run_dir.mkdir()
    env = ros_env(args.domain_id, run_dir, case['large_data'])
    topic = f'{TOPIC}/compressed' if compressed else TOPIC
    records = {name: run_dir / f'{name}.json' for name in ('camera', 'bare', 'node')}
    flags = ['--compressed'] if compressed else []
    processes = Processes(run_dir)
    try:
        processes.start(
            'bare', [*role_argv('bare', topic=topic, record=str(records['bare'])), *flags], env
        )
        camera = role_argv(
            'camera',
            topic=topic,
            record=str(records['camera']),
            width=str(width),
            height=str(height),
            rate=str(args.rate),
        )
        processes.start('camera', [*camera, *flags], env)

        def bare_frames() -> int:
            data = read_json(records['bare'])
            return len(data['frames']) if data else 0

        _wait(lambda: bare_frames() > 10, 30.0, 'frames at the bare subscriber', processes)
        time.sleep(0.5)
        # Window A: the bare subscriber alone.
        a_start, cpu_a = time.time(), _cpu(processes, ['bare', 'camera'])
        time.sleep(args.baseline_seconds)
        a_end, cpu_a_end = time.time(), _cpu(processes, ['bare', 'camera'])

        node_env = dict(env)
        node_env['MUSE_INGEST_PROBE'] = str(records['node'])
        node_env['PYTHONPATH'] = os.pathsep.join(
            p for p in (str(site), env.get('PYTHONPATH', '')) if p
        )
        started = time.monotonic()
        processes.start('node', node_argv(args.node_executable, compressed), node_env)

        def node_ready() -> bool:
            data = read_json(records['node'])
            return bool(data and data['frames'] and any(s['analysed'] for s in data['stats']))

        _wait(node_ready, 60.0, 'the perception node to analyse frames', processes)
        startup = time.monotonic() - started
        time.sleep(args.warmup)
        node_before = read_json(records['node'])
        b_start, cpu_b = time.time(), _cpu(processes, ['node', 'bare', 'camera'])
        time.sleep(args.seconds)
        b_end, cpu_b_end = time.time(), _cpu(processes, ['node', 'bare', 'camera'])
        time.sleep(1.5 + 0.5)  # the next write of every record covers the window's end
        node_after = read_json(records['node'])
        camera_data = read_json(records['camera'])
        bare_data = read_json(records['bare'])
        alive = {name: processes.alive(name) for name in ('node', 'bare', 'camera')}
    finally:
        processes.stop_all()
    if not all(alive.values()):
        raise RuntimeError(f'a process ended during the run: {alive}')

    sent_b = [s for s in camera_data['sent'] if b_start <= s < b_end]
    sent_a = [s for s in camera_data['sent'] if a_start <= s < a_end]
    bare_b = _in_window(bare_data['frames'], b_start, b_end)
    bare_a = _in_window(bare_data['frames'], a_start, a_end)
    node_b = _in_window(node_after['frames'], b_start, b_end)
    wall_a, wall_b = a_end - a_start, b_end - b_start
    before = {s['analyzer']: s for s in node_before['stats']}
    span = node_after['time'] - node_before['time']
    analyzers = {}
    for s in node_after['stats']:
        b = before.get(s['analyzer'], {'analysed': 0, 'dropped': 0})
        analyzers[s['analyzer']] = {
            'rate_hz': s['rate_hz'],
            'analysed_per_s': round((s['analysed'] - b['analysed']) / span, 2),
            'skipped_per_s': round((s['dropped'] - b['dropped']) / span, 2),
            'mean_cost_ms': round(s['mean_cost_ms'], 1),
            'errors': s['errors'],
        }
    node_lat = summary_ms(_latencies(node_b))
    bare_lat = summary_ms(_latencies(bare_b))
    callback_ms = [1e3 * (r[2] - r[1]) for r in node_b]
    at_bare = {round(r[0], 6): r[1] - r[0] for r in bare_b}
    paired = [(r[1] - r[0], at_bare[round(r[0], 6)]) for r in node_b if round(r[0], 6) in at_bare]
    paired_ratio = (
        round(statistics.median(p[0] for p in paired) / statistics.median(p[1] for p in paired), 3)
        if paired
        else None
    )

    def cpu_percent(name: str, start: dict[str, float], end: dict[str, float], wall: float):
        return round(100.0 * (end[name] - start[name]) / wall, 1)

    return {
        'case': case_name(case),
        **case,
        'frame_bytes': camera_data['bytes'],
        'node_startup_s': round(startup, 2),
        'window_s': round(wall_b, 2),
        'published': len(sent_b),
        'published_hz': round(len(sent_b) / wall_b, 2),
        'received_bare': len(bare_b),
        'received_node': len(node_b),
        'analyzers': analyzers,
        'cpu_percent': {
            'node': cpu_percent('node', cpu_b, cpu_b_end, wall_b),
            'bare': cpu_percent('bare', cpu_b, cpu_b_end, wall_b),
            'camera': cpu_percent('camera', cpu_b, cpu_b_end, wall_b),
            'bare_alone': cpu_percent('bare', cpu_a, cpu_a_end, wall_a),
        },
        'latency_node': node_lat,
        'latency_bare': bare_lat,
        'ratio_p50': round(node_lat['p50_ms'] / bare_lat['p50_ms'], 3),
        'added_p50_ms': round(node_lat['p50_ms'] - bare_lat['p50_ms'], 3),
        'paired_frames': len(paired),
        'ratio_p50_paired': paired_ratio,
        'node_callback_ms_p50': round(statistics.median(callback_ms), 3) if callback_ms else None,
        'baseline_alone': {
            'published': len(sent_a),
            'received_bare': len(bare_a),
            'latency_bare': summary_ms(_latencies(bare_a)),
        },
        'loadavg': [round(v, 2) for v in os.getloadavg()],
    }


def _analyzer(run: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The figures of the analyzer whose name (``name:version``) starts with ``prefix``."""
    for name, figures in run['analyzers'].items():
        if name.split(':')[0] == prefix:
            return figures
    return {'analysed_per_s': 0.0, 'skipped_per_s': 0.0}


def aggregate(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per case: the median over its runs of each headline figure."""
    out = []
    for case in case_list():
        mine = [r for r in runs if r['case'] == case_name(case)]
        if not mine:
            continue

        def med(get: Any, values: list[dict[str, Any]] = mine) -> float:
            return round(statistics.median(get(r) for r in values), 3)

        out.append(
            {
                'case': case_name(case),
                'runs': len(mine),
                'ratio_p50': med(lambda r: r['ratio_p50']),
                'ratios': [r['ratio_p50'] for r in mine],
                'ratio_p50_paired': med(lambda r: r['ratio_p50_paired'] or float('nan')),
                'node_p50_ms': med(lambda r: r['latency_node']['p50_ms']),
                'bare_p50_ms': med(lambda r: r['latency_bare']['p50_ms']),
                'bare_alone_p50_ms': med(lambda r: r['baseline_alone']['latency_bare']['p50_ms']),
                'node_p99_ms': med(lambda r: r['latency_node']['p99_ms']),
                'bare_p99_ms': med(lambda r: r['latency_bare']['p99_ms']),
                'published_hz': med(lambda r: r['published_hz']),
                'received_node_fraction': med(lambda r: r['received_node'] / r['published']),
                'received_bare_fraction': med(lambda r: r['received_bare'] / r['published']),
                'node_cpu_percent': med(lambda r: r['cpu_percent']['node']),
                'bare_cpu_percent': med(lambda r: r['cpu_percent']['bare']),
                'health_analysed_per_s': med(
                    lambda r: _analyzer(r, 'image_health')['analysed_per_s']
                ),
                'ocr_analysed_per_s': med(lambda r: _analyzer(r, 'ocr')['analysed_per_s']),
            }
        )
    return out


def table(cases: list[dict[str, Any]]) -> str:
    """The per-case medians as a Markdown table."""
    rows = [
        '| case | node p50 ms | bare p50 ms | ratio p50 (runs) | paired | bare alone p50 ms '
        '| node p99 ms | bare p99 ms | frames at node / bare | node CPU % | bare CPU % |',
        '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ]
    for c in cases:
        ratios = ', '.join(f'{r:.2f}' for r in c['ratios'])
        rows.append(
            f'| {c["case"]} | {c["node_p50_ms"]:.2f} | {c["bare_p50_ms"]:.2f} '
            f'| {c["ratio_p50"]:.2f} ({ratios}) | {c["ratio_p50_paired"]:.2f} '
            f'| {c["bare_alone_p50_ms"]:.2f} '
            f'| {c["node_p99_ms"]:.2f} | {c["bare_p99_ms"]:.2f} '
            f'| {100 * c["received_node_fraction"]:.1f} % / '
            f'{100 * c["received_bare_fraction"]:.1f} % '
            f'| {c["node_cpu_percent"]:.1f} | {c["bare_cpu_percent"]:.1f} |'
        )
    return '\n'.join(rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=8.0, help='window with the node (s)')
    parser.add_argument(
        '--baseline-seconds', type=float, default=3.0, help='window with the bare one alone (s)'
    )
    parser.add_argument('--warmup', type=float, default=2.0, help='after the node is up (s)')
    parser.add_argument('--repeats', type=int, default=2, help='runs per case')
    parser.add_argument('--rate', type=float, default=30.0, help='camera rate (Hz)')
    parser.add_argument('--only', default='', help='case names containing this text')
    parser.add_argument(
        '--domain-id', type=int, default=random.randint(100, 200), help='ROS_DOMAIN_ID'
    )
    parser.add_argument(
        '--node-executable', default=str(Path(sys.executable).parent / 'perception_node')
    )
    parser.add_argument(
        '--out', type=Path, default=REPO / 'bench' / 'results' / 'perception_ingest.json'
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every case ``--repeats`` times, alternating the order; write the results."""
    args = parse_args(argv)

    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # the finally blocks stop every process

    signal.signal(signal.SIGTERM, terminate)
    log_dir = Path(tempfile.mkdtemp(prefix='ingest-bench-'))
    site = make_sitecustomize(log_dir / 'site')
    cases = [c for c in case_list() if args.only in case_name(c)]
    order = []
    for repeat in range(args.repeats):
        order += cases if repeat % 2 == 0 else list(reversed(cases))
    results: dict[str, Any] = {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'machine': {
            'cpus': os.cpu_count(),
            'platform': platform.platform(),
            'python': platform.python_version(),
            'loadavg_at_start': [round(v, 2) for v in os.getloadavg()],
        },
        'settings': {
            'seconds': args.seconds,
            'baseline_seconds': args.baseline_seconds,
            'warmup_s': args.warmup,
            'rate_hz': args.rate,
            'repeats': args.repeats,
            'ros_domain_id': args.domain_id,
            'node_command': node_argv(args.node_executable, False),
        },
        'runs': [],
    }
    wall = time.monotonic()
    print(f'[ingest] {len(order)} runs, logs in {log_dir}', file=sys.stderr, flush=True)
    for index, case in enumerate(order):
        started = time.monotonic()
        run = run_case(case, args, log_dir, site, index)
        results['runs'].append(run)
        print(
            f'[ingest] {index + 1}/{len(order)} {run["case"]}: ratio {run["ratio_p50"]:.2f} '
            f'(node p50 {run["latency_node"]["p50_ms"]:.2f} ms, bare '
            f'{run["latency_bare"]["p50_ms"]:.2f} ms, alone '
            f'{run["baseline_alone"]["latency_bare"]["p50_ms"]:.2f} ms), frames '
            f'{run["received_node"]}/{run["received_bare"]}/{run["published"]}, node CPU '
            f'{run["cpu_percent"]["node"]} % ({time.monotonic() - started:.1f} s)',
            file=sys.stderr,
            flush=True,
        )
    results['cases'] = aggregate(results['runs'])
    results['wall_s'] = round(time.monotonic() - wall, 1)
    results['machine']['loadavg_at_end'] = [round(v, 2) for v in os.getloadavg()]
    print(table(results['cases']))
    print(f'wall time {results["wall_s"]} s')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + '\n')
    print(f'results written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
