"""End-to-end latencies of the demo shift, with 1 robot and with N robots in the same run.

Incident -> proposal, incident -> first safe command, and approval -> motion. Each shift is
a real ``muse-supervisor demo --auto-approve`` (every node a process, real DDS); its independent
monitor writes ``summary.json`` (see docs/DEMO.md). This script runs the shifts, pools the
incidents per robot count and reports p50/p95 of each latency, and the N-robot medians as ratios
of the 1-robot medians measured in the same run (the machine is shared and noisy).

    .venv/jazzy/bin/python bench/demo_latency.py        # 1 and 4 robots, one shift each
    .venv/jazzy/bin/python bench/demo_latency.py --robots 1 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from muse_supervisor.demo.score import latency_summary

ROOT = Path(__file__).resolve().parent.parent
LATENCIES = ('incident_to_proposal', 'incident_to_safe_command', 'approval_to_motion')


def run_shift(robots: int, out: Path, port: int, demo: str) -> dict[str, Any]:
    """One ``demo --auto-approve`` shift; its summary, with the wall time and exit status."""
    command = [demo, 'demo', '--auto-approve', '--robots', str(robots), '--out', str(out),
               '--port', str(port)]  # fmt: skip
    print(f'[bench] {" ".join(command)}', flush=True)
    started = time.monotonic()
    with (out.parent / f'{out.name}.log').open('w') as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    summary_file = out / 'summary.json'
    if not summary_file.exists():
        raise SystemExit(f'[bench] the shift wrote no {summary_file} (exit {status.returncode}); '
                         f'see {out.parent / (out.name + ".log")}')  # fmt: skip
    summary: dict[str, Any] = json.loads(summary_file.read_text())
    summary['wall_s'] = round(time.monotonic() - started, 1)
    summary['exit_status'] = status.returncode
    return summary


def pooled(shifts: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of each latency over every incident of ``shifts``, and what the incidents did."""
    incidents = [i for shift in shifts for i in shift['incidents']]
    return {
        'shifts': len(shifts),
        'incidents': len(incidents),
        'resolved': sum(i['end_state'] == 'resolved' for i in incidents),
        'violations': sum(len(shift['violations']) for shift in shifts),
        'latency_s': {
            name: latency_summary([i[name] for i in incidents if i[name] is not None])
            for name in LATENCIES
        },
        'wall_s': [shift['wall_s'] for shift in shifts],
    }


def ratios(results: dict[str, Any]) -> None:
    """Each robot count's p50s as ratios of the 1-robot p50s of the same run."""
    base = results['robots'].get('1')
    if base is None:
        return
    for entry in results['robots'].values():
        entry['p50_ratio_to_1_robot'] = {}
        for name in LATENCIES:
            p50, reference = entry['latency_s'][name]['p50'], base['latency_s'][name]['p50']
            ratio = round(p50 / reference, 2) if p50 and reference else None
            entry['p50_ratio_to_1_robot'][name] = ratio


def show(results: dict[str, Any]) -> None:
    """The results as a table."""
    print(f'{"robots":>6}  {"latency":<26} {"n":>3} {"p50 s":>7} {"p95 s":>7} {"p50/1 robot":>11}')
    for robots, entry in results['robots'].items():
        for name in LATENCIES:
            stats = entry['latency_s'][name]
            ratio = entry.get('p50_ratio_to_1_robot', {}).get(name)
            cells = ['-' if stats[q] is None else f'{stats[q]:.2f}' for q in ('p50', 'p95')]
            print(f'{robots:>6}  {name:<26} {stats["n"]:>3} {cells[0]:>7} {cells[1]:>7} '
                  f'{"-" if ratio is None else ratio:>11}')  # fmt: skip
        print(f'{robots:>6}  {entry["resolved"]} of {entry["incidents"]} incidents resolved, '
              f'{entry["violations"]} violation(s), shifts of {entry["wall_s"]} s')  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the shifts, write the JSON results and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--robots', default='1,4', help='robot counts, comma-separated')
    parser.add_argument('--runs', type=int, default=1, help='shifts per robot count')
    parser.add_argument('--port', type=int, default=8791, help="the HMI's port during the runs")
    parser.add_argument('--out', type=Path, default=ROOT / 'bench/results/demo_latency.json')
    parser.add_argument('--demo', default=str(Path(sys.executable).parent / 'muse-supervisor'),
                        help='the muse-supervisor executable')  # fmt: skip
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.robots.split(',') if n.strip()]
    command = ' '.join(['bench/demo_latency.py', *(sys.argv[1:] if argv is None else argv)])
    results: dict[str, Any] = {'command': command, 'host_cpus': os.cpu_count(), 'robots': {}}
    with tempfile.TemporaryDirectory(prefix='demo_latency_') as folder:
        for robots in counts:
            shifts = [
                run_shift(robots, Path(folder) / f'robots{robots}_run{run}', args.port, args.demo)
                for run in range(args.runs)
            ]
            results['robots'][str(robots)] = pooled(shifts)
            print(f'[bench] {robots} robot(s): {json.dumps(results["robots"][str(robots)])}',
                  flush=True)  # fmt: skip
    ratios(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + '\n')
    show(results)
    print(f'results: {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
