#!/usr/bin/env python3
"""What the ``transformers`` backend costs and how often its answers are usable, per mode.

The whole offline stack runs (:class:`~muse_supervisor.reasoner.offline.OfflineStack`:
perception of a public scenario with its key frames, the analyzers behind ``inspect_image``,
the simulator) with the reasoner's backend swapped for a
:class:`~muse_supervisor.reasoner.backends.local_vlm.TransformersBackend`. Without ``--model``
that is the tiny random Idefics3 the tests build (SmolVLM's architecture, random weights): its
figures are the backend's own overhead (prompt, images, llguidance mask, batching) and what
constrained decoding makes of a model that knows nothing, not a real model's speed.

Each mode runs ``--n`` proposals (after one warm-up each) three times: under the shipped
deadlines (Instant 0.1 s, Thinking 2.0 s); under relaxed ones (60 s), which show what the token
caps alone do; and relaxed with caps of 1024 new tokens, which show the cost of whole answers
(the random model writes every string to its maximum length, so the shipped caps cut it).
Per proposal: wall time of the pass, time and tokens in ``generate()`` (prompt tokens summed
over calls; completion tokens summed over the returned sequences), tool calls the model
chose; per answer: whether it parsed as a plan (the schema's work) and whether the plan then
passed the gate's validator (``validate_candidate``); per proposal, whether the best plan came
from the model or from the SOP fallback. It also measures the same prompt without the
constraint (``--n`` free-text answers) to show what the constraint does.

    .venv/jazzy/bin/python bench/reasoner_local_vlm.py            # ~4 min on 2 cores
    .venv/jazzy/bin/python bench/reasoner_local_vlm.py --n 5      # quick look
    .venv/jazzy/bin/python bench/reasoner_local_vlm.py --model /path/to/SmolVLM-256M-Instruct

Writes ``bench/results/reasoner_local_vlm.json`` (``--out``) and prints a Markdown table.
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

os.environ.setdefault('HF_HUB_OFFLINE', '1')  # before transformers is imported: no hub, ever
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / 'test' / 'reasoner'))

from muse_supervisor.reasoner.backends import model as shared  # noqa: E402 - after the path
from muse_supervisor.reasoner.backends.local_vlm import TransformersBackend  # noqa: E402
from muse_supervisor.reasoner.core import (  # noqa: E402
    Candidate,
    Moment,
    ReasonerSettings,
    validate_candidate,
)
from muse_supervisor.reasoner.offline import OfflineStack  # noqa: E402
from muse_supervisor.reasoner.tools import ToolBox  # noqa: E402

SCENARIO = REPO / 'scenarios' / 'public' / 'blocked-aisle' / 'scenario.yaml'
OUT = REPO / 'bench' / 'results' / 'reasoner_local_vlm.json'
SHIPPED = ReasonerSettings()
RELAXED = ReasonerSettings(instant_deadline=60.0, thinking_deadline=60.0)
WHOLE = 1024  # new tokens: room for any whole answer of the random model
# (label, reasoner settings, new-token caps (Instant, Thinking) or None for the backend's own)
RUNS: tuple[tuple[str, ReasonerSettings, tuple[int, int] | None], ...] = (
    ('shipped_deadlines', SHIPPED, None),
    ('relaxed_deadlines', RELAXED, None),
    ('relaxed_deadlines_whole_answers', RELAXED, (WHOLE, WHOLE)),
)


class Recording:
    """The backend under test, remembering each pass's moment and candidates."""

    def __init__(self, inner: TransformersBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.moment: Moment | None = None
        self.found: list[Candidate] = []

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        """The wrapped backend's candidates, remembered."""
        self.moment = moment
        self.found = []
        self.found = self.inner.candidates(moment, tools)
        return self.found


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in (0, 1])."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def spread(values: list[float]) -> dict[str, float]:
    """Median, p95, mean and max, rounded for the table."""
    if not values:
        return {}
    return {
        'median': round(statistics.median(values), 2),
        'p95': round(percentile(values, 0.95), 2),
        'mean': round(statistics.fmean(values), 2),
        'max': round(max(values), 2),
    }


def run_mode(
    stack: OfflineStack, recording: Recording, mode: str, n: int, scenario: Path
) -> dict[str, Any]:
    """``n`` proposals in ``mode`` after one warm-up; per-proposal and per-answer figures."""
    backend = recording.inner
    stack.propose(scenario, mode)  # warm-up: grammar compile, first-call allocations
    rows: list[dict[str, Any]] = []
    for _ in range(n):
        calls, answers, unparsed = len(backend.metrics), backend.answers, backend.unparsed
        result = stack.propose(scenario, mode)
        proposal = result.proposal
        made = list(backend.metrics)[calls:]
        moment = recording.moment
        facts = moment.facts if moment is not None else {}
        gate_valid = sum(
            validate_candidate(c.plan, stack.reasoner.gate, facts) == '' for c in recording.found
        )
        rows.append({
            'latency_ms': proposal.latency_ms,
            'model_ms': sum(m.latency_ms for m in made),
            'generate_calls': len(made),
            'prompt_tokens': sum(m.prompt_tokens for m in made),
            'completion_tokens': sum(m.completion_tokens for m in made),
            'answers': backend.answers - answers,
            'parsed': (backend.answers - answers) - (backend.unparsed - unparsed),
            'gate_valid': gate_valid,
            'tool_calls': len(backend.last_tool_calls),
            'deadline_stops': sum('deadline' in m.error for m in made),
            'capped_calls': sum('token cap' in m.error for m in made),
            'best_from_model': bool(proposal.plans)
            and proposal.plans[0].candidate.generator.startswith('transformers/'),
            'timed_out': proposal.timed_out,
        })  # fmt: skip
    answers = sum(r['answers'] for r in rows)
    return {
        'proposals': n,
        'latency_ms': spread([r['latency_ms'] for r in rows]),
        'model_ms': spread([r['model_ms'] for r in rows]),
        'generate_calls': spread([float(r['generate_calls']) for r in rows]),
        'prompt_tokens': spread([float(r['prompt_tokens']) for r in rows]),
        'completion_tokens': spread([float(r['completion_tokens']) for r in rows]),
        'tool_calls': spread([float(r['tool_calls']) for r in rows]),
        'answers': answers,
        'parsed_share': round(sum(r['parsed'] for r in rows) / answers, 3) if answers else None,
        'gate_valid_share': round(sum(r['gate_valid'] for r in rows) / answers, 3)
        if answers else None,
        'best_from_model_share': round(sum(r['best_from_model'] for r in rows) / n, 3),
        'proposals_with_a_deadline_stop': sum(r['deadline_stops'] > 0 for r in rows),
        'proposals_with_a_token_cap_hit': sum(r['capped_calls'] > 0 for r in rows),
        'timed_out_share': round(sum(r['timed_out'] for r in rows) / n, 3),
    }  # fmt: skip


def unconstrained(
    backend: TransformersBackend, moment: Moment, n: int
) -> dict[str, Any]:  # fmt: skip
    """The same prompt and model without the schema: how many answers read as a plan."""
    free = backend.complete(shared.prompt(moment, []), schema=None, count=n, sample=True,
                            max_new_tokens=backend.max_new_tokens_thinking)  # fmt: skip
    parsed = 0
    for index, text in enumerate(free.texts):
        try:
            shared.read_plan(text, moment, index, 'free')
            parsed += 1
        except shared.ModelAnswerError:
            pass
    return {'answers': len(free.texts), 'parsed': parsed,
            'completion_tokens': free.completion_tokens}  # fmt: skip


def main() -> int:
    """Run the bench; write the JSON and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--n', type=int, default=20, help='proposals per mode and deadline')
    parser.add_argument('--scenario', type=Path, default=SCENARIO)
    parser.add_argument('--model', type=Path, default=None,
                        help='a model folder (default: the tiny random one)')  # fmt: skip
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=Path, default=OUT)
    args = parser.parse_args()

    import torch

    torch.manual_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix='muse-tiny-vlm-') as scratch:
        start = time.perf_counter()
        if args.model is None:
            from test_local_vlm import build_random_model

            folder = build_random_model(Path(scratch) / 'tiny_idefics3', seed=args.seed)
            described = 'tiny random Idefics3 (test/reasoner/test_local_vlm.py)'
        else:
            folder, described = args.model, str(args.model)
        built_s = time.perf_counter() - start
        backend = TransformersBackend(folder, threads=args.threads)
        start = time.perf_counter()
        backend.load()
        load_s = time.perf_counter() - start
        recording = Recording(backend)
        results: dict[str, Any] = {}
        free: dict[str, Any] = {}
        caps = (backend.max_new_tokens_instant, backend.max_new_tokens_thinking)
        for label, settings, override in RUNS:
            backend.max_new_tokens_instant, backend.max_new_tokens_thinking = override or caps
            stack = OfflineStack(REPO / 'config', 'sop', settings=settings)
            stack.reasoner.backend = recording
            try:
                stack.warm_up()
                results[label] = {mode: run_mode(stack, recording, mode, args.n, args.scenario)
                                  for mode in ('instant', 'thinking')}  # fmt: skip
                if label == 'relaxed_deadlines' and recording.moment is not None:
                    free = unconstrained(backend, recording.moment, args.n)
            finally:
                stack.close()
        backend.max_new_tokens_instant, backend.max_new_tokens_thinking = caps

    report = {
        'bench': 'reasoner_local_vlm',
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                    'python': platform.python_version(), 'torch_threads': args.threads},
        'versions': {name: metadata.version(name)
                     for name in ('torch', 'transformers', 'llguidance')},
        'model': described,
        'scenario': str(args.scenario.relative_to(REPO)) if args.scenario.is_relative_to(REPO)
        else str(args.scenario),
        'backend': {'max_new_tokens_instant': backend.max_new_tokens_instant,
                    'max_new_tokens_thinking': backend.max_new_tokens_thinking,
                    'temperature': backend.temperature, 'max_tool_calls': backend.max_tool_calls,
                    'max_prompt_tokens': backend.max_prompt_tokens,
                    'max_frames': backend.max_frames},
        'runs': {label: {'deadlines_s': [settings.instant_deadline, settings.thinking_deadline],
                         'max_new_tokens': list(override) if override else 'the backend\'s'}
                 for label, settings, override in RUNS},
        'thinking_candidates': SHIPPED.candidates,
        'build_s': round(built_s, 2),
        'load_s': round(load_s, 3),
        'results': results,
        'unconstrained_thinking_prompt': free,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + '\n')
    print(f'model: {described}; scenario {report["scenario"]}; {args.n} proposals per row')
    print('| deadlines | mode | latency p50 / p95 ms | generate ms p50 | prompt tok p50 | '
          'completion tok p50 | parsed | gate-valid | best from model |')  # fmt: skip
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for label, modes in results.items():
        for mode, row in modes.items():
            latency = row['latency_ms']
            print(f'| {label} | {mode} | {latency["median"]} / {latency["p95"]} '
                  f'| {row["model_ms"].get("median", 0)} | {row["prompt_tokens"].get("median")} '
                  f'| {row["completion_tokens"].get("median")} | {row["parsed_share"]} '
                  f'| {row["gate_valid_share"]} | {row["best_from_model_share"]} |')  # fmt: skip
    if free:
        print(f'unconstrained: {free["parsed"]}/{free["answers"]} answers parse as a plan')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
