#!/usr/bin/env python3
"""What the ``openai`` backend costs per proposal, against a real llama.cpp server on this host.

The server is ``python -m llama_cpp.server`` serving the tiny random Llama that the fleet
backend's tests build (``test/reasoner/llama_server.py``: 140 k parameters, f32 GGUF), so the
figures are the client's and the protocol's cost (prompt, schema-constrained decoding, HTTP,
reading and validating the plan) plus a model that costs almost nothing; a real model adds
its own time per token. N proposals per mode go through :class:`Reasoner` over a rotation of
five incidents, after :meth:`OpenAIBackend.prepare` and two warm-up proposals per mode that are
not counted, twice: with the shipped deadlines (0.1 s Instant, 2 s Thinking with k = 4), and
with deadlines no call reaches (5 s, 20 s), which shows the cost with nothing cut. Note that
llama-cpp-python's server decodes one request at a time: Thinking's k parallel requests overlap
on the client but queue on the server.

Reported per mode: proposal latency (median, p95, ...), tokens per proposal (prompt,
completion, total; from the server's ``usage``), model calls per proposal and the latency of
one answered call, the valid share
(plan answers that became validated candidates, over plan answers asked for) and how many
proposals had to fall back to the SOPs.

    .venv/jazzy/bin/python bench/reasoner_fleet.py             # ~1 min on 2 cores
    .venv/jazzy/bin/python bench/reasoner_fleet.py --n 5       # quick look

Writes ``bench/results/reasoner_fleet.json`` (``--out``) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'test' / 'reasoner'))

from latency_stats import percentile, summary_ms  # noqa: E402 - after the path set-up
from llama_server import LlamaServer, build_tiny_model  # noqa: E402

from muse_supervisor.domain.evidence import EvidenceSource, Observation  # noqa: E402
from muse_supervisor.domain.incidents import IncidentSnapshot, IncidentState  # noqa: E402
from muse_supervisor.domain.motion import Pose2D  # noqa: E402
from muse_supervisor.domain.vocabulary import IncidentKind, Severity  # noqa: E402
from muse_supervisor.perception.context import ContextBundle  # noqa: E402
from muse_supervisor.reasoner.backends.fleet import OpenAIBackend  # noqa: E402
from muse_supervisor.reasoner.core import Reasoner, ReasonerSettings  # noqa: E402
from muse_supervisor.reasoner.embeddings import TextEmbedder  # noqa: E402
from muse_supervisor.reasoner.facts import RobotState  # noqa: E402
from muse_supervisor.reasoner.language import load_glossary  # noqa: E402
from muse_supervisor.reasoner.maintenance import open_maintenance_log  # noqa: E402
from muse_supervisor.reasoner.sops import load_library  # noqa: E402
from muse_supervisor.safety.config import gate_config_from_file  # noqa: E402
from muse_supervisor.sim.world import load_world  # noqa: E402

CONFIG = REPO / 'config'
POSE = Pose2D(3.0, 2.2, 0.0)
# (alarm text, source, robot): incidents the shipped SOPs read with confidence.
INCIDENTS = (
    ('battery low, 14 %', 'bms', RobotState(pose=POSE, battery=0.14)),
    ('Überstrom Antrieb links', 'drive', RobotState(pose=POSE, battery=0.8)),
    ('laser scanner reports no scan data', 'lidar', RobotState(pose=POSE, battery=0.8)),
    ('Lokalisierung verloren', 'nav', RobotState(pose=POSE, battery=0.8)),
    ('no progress for 30 s, path blocked by a pallet', 'nav', RobotState(pose=POSE, battery=0.8)),
)
WARM_UP = 2


def _bundle(index: int, text: str, source: str) -> ContextBundle:
    alarm = Observation(
        signal='alarm.raised', source=EvidenceSource.ALARM, topic='alarms',
        producer='alarm_rules:unmatched', summary=f'alarm {source}/E{index}', stamp=100.0,
        confidence=0.5, trusted=False,
        attributes=(('kind', 'unknown'), ('rule', 'unmatched'), ('key', f'alarm:{source}/E1'),
                    ('origin', f'alarm {source}/E1'), ('text', text)),
        untrusted=('origin', 'text'),
    )  # fmt: skip
    incident = IncidentSnapshot(
        id=f'robot_1/bench/{index:04d}', robot_id='robot_1', dedup_key=f'bench{index}',
        kind=IncidentKind.UNKNOWN, other_kinds=(), severity=Severity.ERROR,
        state=IncidentState.OPEN, opened=100.0, updated=100.0, confidence=0.5, summary='bench',
        evidence=(alarm,),
    )  # fmt: skip
    return ContextBundle(incident, (), (), None, (), 101.0, ())


def _mode(reasoner: Reasoner, backend: OpenAIBackend, mode: str, n: int) -> dict[str, Any]:
    k = reasoner.settings.candidates if mode == 'thinking' else 1
    rows: list[dict[str, Any]] = []
    for i in range(WARM_UP + n):
        text, source, robot = INCIDENTS[i % len(INCIDENTS)]
        before = len(backend.metrics)
        start = time.perf_counter()
        proposal = reasoner.propose(_bundle(i, text, source), robot, mode)
        wall = time.perf_counter() - start
        calls = list(backend.metrics)[before:]
        generator = f'openai/{mode}'
        model_plans = sum(r.candidate.generator == generator for r in proposal.plans)
        if i >= WARM_UP:
            rows.append({
                'latency_s': proposal.latency_ms / 1e3, 'wall_s': wall,
                'prompt_tokens': sum(c.prompt_tokens for c in calls),
                'completion_tokens': sum(c.completion_tokens for c in calls),
                'calls': len(calls), 'failed_calls': sum(not c.ok for c in calls),
                'call_s': [c.latency_ms / 1e3 for c in calls if c.ok],
                'model_plans': model_plans, 'asked': k,
                'fallback': model_plans == 0, 'timed_out': proposal.timed_out,
                'kind': proposal.belief.governing.name.lower(),
            })  # fmt: skip
    tokens = [r['prompt_tokens'] + r['completion_tokens'] for r in rows]
    answered = [t for r in rows for t in r['call_s']]
    asked = sum(r['asked'] for r in rows)
    return {
        'n': n,
        'latency': summary_ms([r['latency_s'] for r in rows]),
        'latency_median_ms': round(percentile([1e3 * r['latency_s'] for r in rows], 50), 2),
        'latency_p95_ms': round(percentile([1e3 * r['latency_s'] for r in rows], 95), 2),
        'tokens_per_proposal': {
            'prompt_median': statistics.median(r['prompt_tokens'] for r in rows),
            'completion_median': statistics.median(r['completion_tokens'] for r in rows),
            'total_median': statistics.median(tokens),
            'total_p95': round(percentile(tokens, 95), 1),
        },
        'model_calls_per_proposal_median': statistics.median(r['calls'] for r in rows),
        # One answered request (tool round or plan) as the client saw it, HTTP included.
        'answered_call': summary_ms(answered) if answered else None,
        'failed_calls': sum(r['failed_calls'] for r in rows),
        'valid_share': round(sum(r['model_plans'] for r in rows) / asked, 3) if asked else 0.0,
        'fallbacks': sum(r['fallback'] for r in rows),
        'timed_out': sum(r['timed_out'] for r in rows),
        'kinds': sorted({r['kind'] for r in rows}),
    }


RUNS = {
    # The shipped deadlines: what a robot gets from this server.
    'shipped': ReasonerSettings(),
    # Deadlines no call reaches: the server's and the client's own cost, nothing cut.
    'wide': ReasonerSettings(instant_deadline=5.0, thinking_deadline=20.0),
}


def main() -> int:
    """Run the benchmark; print a table; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--n', type=int, default=20, help='proposals per mode (default 20)')
    parser.add_argument('--out', type=Path, default=REPO / 'bench/results/reasoner_fleet.json')
    args = parser.parse_args()
    gate = gate_config_from_file(str(CONFIG / 'safety_gate.yaml'), '/safety_gate')
    embedder = TextEmbedder()
    embedder.load()
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix='muse-bench-fleet-') as folder:
        start = time.perf_counter()
        gguf = build_tiny_model(Path(folder))
        built = time.perf_counter() - start
        with LlamaServer(gguf) as server:
            for run, settings in RUNS.items():
                backend = OpenAIBackend(server.url, schema_spelling='auto')
                started = time.perf_counter()
                spelling = backend.prepare()
                prepared = time.perf_counter() - started
                reasoner = Reasoner(
                    load_library(CONFIG / 'sops'), embedder.embed,
                    load_glossary(CONFIG / 'sops' / 'glossary.yaml'), gate,
                    load_world(CONFIG / 'maps' / 'warehouse_world.yaml'), backend=backend,
                    maintenance=open_maintenance_log('', CONFIG / 'maintenance' / 'history.csv'),
                    settings=settings,
                )  # fmt: skip
                modes = {mode: _mode(reasoner, backend, mode, args.n)
                         for mode in ('instant', 'thinking')}  # fmt: skip
                runs[run] = {
                    'instant_deadline_s': settings.instant_deadline,
                    'thinking_deadline_s': settings.thinking_deadline,
                    'candidates': settings.candidates,
                    'prepare_ms': round(1e3 * prepared, 1),
                    'schema_spelling': spelling,
                    'circuit_openings': backend.breaker.openings,
                    'modes': modes,
                }
                backend.close()
    report = {
        'what': 'Reasoner + OpenAIBackend against llama.cpp server (tiny random Llama)',
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'host': {'cpus': os.cpu_count(), 'machine': platform.machine(),
                 'python': platform.python_version()},
        'versions': {p: metadata.version(p) for p in ('llama_cpp_python', 'openai')},
        'backend': {'tool_rounds_thinking': 2, 'tool_choice': 'auto', 'max_tokens': 512,
                    'timeout_s': 10.0, 'retries': 1, 'circuit_failures': 3},
        'warm_up': WARM_UP,
        'model_build_s': round(built, 1),
        'runs': runs,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print('| deadlines | mode | n | median ms | p95 ms | tokens/proposal (median) | calls | '
          'valid | fallbacks |')  # fmt: skip
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for run, result in runs.items():
        for mode, row in result['modes'].items():
            print(f'| {run} | {mode} | {row["n"]} | {row["latency_median_ms"]} | '
                  f'{row["latency_p95_ms"]} | {row["tokens_per_proposal"]["total_median"]} | '
                  f'{row["model_calls_per_proposal_median"]} | {row["valid_share"]:.0%} | '
                  f'{row["fallbacks"]} |')  # fmt: skip
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
