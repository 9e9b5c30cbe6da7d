"""``muse-supervisor propose`` and ``muse-supervisor eval``: the reasoner on scenario files.

Both run the perception, reasoner and simulator code the nodes run, without a ROS graph, from
the installed parameter files (or ``--config-dir``). ``propose`` prints one scenario's ranked
plans; ``eval`` scores a folder of scenarios and prints a table (and with ``--json`` the whole
report). Progress goes to stderr, results to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

MODES = ('instant', 'thinking')
BACKENDS = ('sop',)  # transformers and openai backends: issue 10, not offline yet
DEFAULT_THRESHOLD = 0.8


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``propose`` and ``eval``."""
    text = 'propose ranked recovery plans for one scenario file (no ROS graph)'
    propose = commands.add_parser('propose', help=text, description=text)
    propose.add_argument('file', type=Path, metavar='FILE', help='scenario YAML file')
    propose.add_argument('--mode', choices=MODES, default='instant')
    _common(propose)
    propose.add_argument('--json', action='store_true', help='print the proposal as JSON')
    text = 'score the reasoner on every scenario of a folder'
    evaluate = commands.add_parser('eval', help=text, description=text)
    evaluate.add_argument('folder', type=Path, metavar='DIR', help='folder of scenario files')
    evaluate.add_argument('--mode', choices=(*MODES, 'both'), default='both')
    _common(evaluate)
    evaluate.add_argument(
        '--threshold',
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f'confidence for selective accuracy (default {DEFAULT_THRESHOLD})',
    )
    evaluate.add_argument('--json', type=Path, metavar='FILE', help='also write the report here')


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--backend', choices=BACKENDS, default='sop')
    parser.add_argument('--config-dir', type=Path, help='folder of the parameter files')
    parser.add_argument('--no-simulate', action='store_true', help='skip the plan simulator')


def run(args: argparse.Namespace, config_dir: Path) -> int:
    """Run ``propose`` or ``eval``; 2 with a message for bad input."""
    from muse_supervisor.params import ConfigError
    from muse_supervisor.reasoner.evaluation import evaluate, scenario_files, table
    from muse_supervisor.reasoner.offline import OfflineStack

    try:
        files = [args.file] if args.command == 'propose' else scenario_files(args.folder)
    except FileNotFoundError as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2
    print(f'muse-supervisor: loading the reasoner from {config_dir}', file=sys.stderr)
    stack = OfflineStack(config_dir, args.backend, simulate=not args.no_simulate)
    try:
        stack.warm_up()
        if args.command == 'propose':
            result = stack.propose(args.file, args.mode)
            document = result.to_dict()
            print(json.dumps(document, indent=2) if args.json else describe(document))
            return 0
        modes = list(MODES) if args.mode == 'both' else [args.mode]
        report = evaluate(files, stack.propose, modes, args.threshold,
                          lambda line: print(line, file=sys.stderr))  # fmt: skip
        print(table(report))
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + '\n')
        return 0
    except ConfigError as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2
    finally:
        stack.close()


def describe(document: dict[str, Any]) -> str:
    """A proposal for a person."""
    incident = document['incident']
    lines = [
        f'{document["scenario"]}: {incident["kind"]} (confidence {incident["confidence"]:.2f}; '
        f'present: {", ".join(incident["present"])}); perception said '
        f'{document["perception"]["kind"]}',
        f'{document["mode"]} / {document["backend"]}: {document["latency_ms"]:.0f} ms reasoning, '
        f'{document["perception"]["latency_ms"]:.0f} ms perception',
    ]
    for index, plan in enumerate(document['plans'], 1):
        steps = ', '.join(
            step['skill'] + (f'({_args(step["args"])})' if step['args'] else '')
            for step in plan['steps']
        )
        prediction = plan['prediction']
        outcome = prediction['explanation'] if prediction else 'not simulated'
        approval = ', needs approval' if plan['requires_approval'] else ''
        lines.append(
            f'  {index}. [{plan["sop"]}] {steps}\n'
            f'     confidence {plan["confidence"]:.2f}, risk {plan["risk"]:.2f}{approval}; '
            f'{outcome}\n     digest {plan["digest"][:16]}...; sources: '
            f'{"; ".join(plan["sources"])}'
        )
    if document['dropped']:
        lines.append('  dropped: ' + '; '.join(document['dropped']))
    lines.append('  trace: ' + ', '.join(
        f'{t["tool"]} ({t["latency_ms"]:.0f} ms{"" if t["ok"] else ", refused"})'
        for t in document['trace']
    ))  # fmt: skip
    lines.append('summary:\n  ' + document['summary'].replace('\n', '\n  '))
    return '\n'.join(lines)


def _args(args: dict[str, Any]) -> str:
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return f'({v["x"]:.2f}, {v["y"]:.2f})'
        return f'{v:g}' if isinstance(v, float) else repr(v)

    return ', '.join(f'{k}={value(v)}' for k, v in args.items())
