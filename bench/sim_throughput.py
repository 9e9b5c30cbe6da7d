"""Plan simulator throughput: evaluations per second for k = 1, 4, 16 plans, in parallel or not.

    .venv/jazzy/bin/python bench/sim_throughput.py [--rounds N] [--workers W] [--out PATH]

The shipped warehouse (200 x 200 cells at 0.05 m); each batch holds k plans drawn in turn from a
fixed mix (navigate to each aisle end, to staging, reverse, dock, a tier A wait, an invalid
reverse). The same batches run sequentially in this process and in parallel on a process pool
(as ``plan_simulator_node`` does, workers loaded once), alternating, in one run. Reports the
median and p95 wall time per batch and evaluations per second. Targets (issue 9): p95 for k = 4
<= 500 ms, >= 100 evaluations/s.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from muse_supervisor.domain import ArgumentType, Pose2D, Skill, Tier  # noqa: E402
from muse_supervisor.domain.plans import Argument, Plan, Step  # noqa: E402
from muse_supervisor.safety.config import gate_config_from_file  # noqa: E402
from muse_supervisor.sim.rollout import Situation, simulate  # noqa: E402
from muse_supervisor.sim.world import load_world  # noqa: E402

WORLD_FILE = REPO / 'config' / 'maps' / 'warehouse_world.yaml'
# The shipped gate configuration (the world's places are its waypoints), driving through Nav2.
_SHIPPED = gate_config_from_file(str(REPO / 'config' / 'safety_gate.yaml'), '/safety_gate')
CONFIG = dataclasses.replace(
    _SHIPPED, limits=dataclasses.replace(_SHIPPED.limits, navigation_backend='nav2')
)


def _step(skill: Skill, name: str = '', text: str = '', number: float | None = None) -> Step:
    if not name:
        return Step(int(skill))
    if number is not None:
        return Step(int(skill), (Argument(name, int(ArgumentType.NUMBER), number),))
    return Step(int(skill), (Argument(name, int(ArgumentType.TEXT), text=text),))


MIX = [
    Plan('aisle-1', 'i', (_step(Skill.NAVIGATE_TO, 'target', 'aisle_1_end'),), int(Tier.B), False),
    Plan('aisle-2', 'i', (_step(Skill.NAVIGATE_TO, 'target', 'aisle_2_end'),), int(Tier.B), False),
    Plan('staging', 'i', (_step(Skill.NAVIGATE_TO, 'target', 'staging'),), int(Tier.B), False),
    Plan('reverse', 'i', (_step(Skill.REVERSE, 'distance', number=0.5),), int(Tier.B), False),
    Plan('dock', 'i', (_step(Skill.DOCK, 'station', 'dock_1'),), int(Tier.B), False),
    Plan('wait', 'i', (_step(Skill.WAIT, 'seconds', number=2.0),), int(Tier.A), False),
    Plan('too-far', 'i', (_step(Skill.REVERSE, 'distance', number=1.8),), int(Tier.B), False),
]
_WORLD = {}


def _init() -> None:
    _WORLD['world'] = load_world(WORLD_FILE)


def _one(job: tuple[Plan, Situation]) -> str:
    plan, situation = job
    return simulate(plan, _WORLD['world'], CONFIG, situation).verdict.name


def _batch(k: int, offset: int) -> list[tuple[Plan, Situation]]:
    """``k`` plans of one situation, a millimetre away from every other batch's start.

    A path found for an earlier batch is then not reused: only the plans of one batch share
    theirs, as the k candidates for one incident would.
    """
    situation = Situation(Pose2D(0.001 * (offset + 20 * k), 0.0, 0.0))
    return [(MIX[(offset + i) % len(MIX)], situation) for i in range(k)]


def main() -> int:
    """Run the benchmark; print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=7, help='batches per k and mode')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1)
    parser.add_argument('--out', default=str(REPO / 'bench' / 'results' / 'sim_throughput.json'))
    args = parser.parse_args()
    _init()
    pool = concurrent.futures.ProcessPoolExecutor(
        args.workers, mp_context=multiprocessing.get_context('spawn'), initializer=_init
    )
    list(pool.map(_one, _batch(args.workers, 0)))  # warm the workers
    results = {}
    for k in (1, 4, 16):
        times: dict[str, list[float]] = {'sequential': [], 'parallel': []}
        for r in range(args.rounds):
            for mode in ('sequential', 'parallel') if r % 2 == 0 else ('parallel', 'sequential'):
                plans = _batch(k, 2 * r + (mode == 'parallel'))  # no batch runs twice
                started = time.perf_counter()
                if mode == 'sequential':
                    [_one(job) for job in plans]
                else:
                    list(pool.map(_one, plans))
                times[mode].append(time.perf_counter() - started)
        results[k] = {}
        for mode, samples in times.items():
            ordered = sorted(samples)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            median = statistics.median(samples)
            results[k][mode] = {
                'median_ms': round(median * 1000, 1),
                'p95_ms': round(p95 * 1000, 1),
                'evaluations_per_s': round(k / median, 1),
            }
            print(f'k={k:2d} {mode:10s} median {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  '
                  f'{k / median:6.1f} evaluations/s', flush=True)  # fmt: skip
        ratio = results[k]['sequential']['median_ms'] / results[k]['parallel']['median_ms']
        print(f'k={k:2d} parallel speed-up {ratio:.2f} x ({args.workers} workers)', flush=True)
    pool.shutdown()
    Path(args.out).write_text(json.dumps({'workers': args.workers, 'results': results}, indent=2))
    print(f'results written to {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
