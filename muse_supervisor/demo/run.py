"""``muse-supervisor demo``: the simulated robot, the whole stack and the web HMI, and a shift.

It starts one stack per simulated robot (``--robots N``, one namespace each, one HMI for all)
with the shift's timeline (``config/scenarios/demo_shift.yaml``), a fresh demo operator
account and everything the run writes in one folder: the nodes' log, the audit trail, the
incident recordings and, at the end, one report per incident. While it runs, the terminal shows
a status line and the HMI's address and login. Without ``--auto-approve`` plans that need an
approval wait for whoever logs in; with it the reasoner approves what the policy allows and the
demo plays the operator's remaining part (a gate reset once the picker has left) through the
HMI's API. It ends with the summary table: each incident, its kind, the chosen plan, who decided,
the outcome, the end state, and the incident-to-proposal and incident-to-first-safe-command
latencies.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import yaml  # type: ignore[import-untyped]

from muse_supervisor.demo.monitor import DemoMonitor
from muse_supervisor.demo.score import ShiftScore, table
from muse_supervisor.hmi.accounts import account_entry
from muse_supervisor.sim.timeline import load_timeline
from muse_supervisor.stack import NodeLaunch, fleet_plan

# What the policy may approve alone in a headless run (kind:tier, as reasoner.yaml spells it).
AUTO_APPROVE = ('path_blocked:B,low_battery:B,camera_fault:A,person_in_zone:A,spill_or_debris:A,'
                'sensor_fault:A,motor_fault:A')  # fmt: skip
# The confidence the policy needs in the demo: 0.8, the threshold at which `eval` reports
# selective accuracy; the shipped reasoner.yaml asks 0.9 (a site sets its own).
AUTO_APPROVE_CONFIDENCE = 0.8
# After the last scripted event: time for the last incident to be handled and verified.
SETTLE = 60.0
MAX_ROBOTS = 8


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``demo``."""
    text = 'run the simulated robot, the whole stack and the web HMI through a scripted shift'
    demo = commands.add_parser('demo', help=text, description=text)
    demo.add_argument(
        '--auto-approve',
        action='store_true',
        help='approve by policy and play the operator (a headless run)',
    )
    demo.add_argument('--robots', type=int, default=1, help=f'simulated robots, 1 to {MAX_ROBOTS}')
    demo.add_argument('--out', type=Path, help='folder for what the run writes '
                      '(default: demo-runs/<time>)')  # fmt: skip
    demo.add_argument('--port', type=int, default=8765, help='HMI port (default 8765)')
    demo.add_argument('--duration', type=float, help='stop after this many seconds '
                      '(default: the shift, then 60 s for the last incident)')  # fmt: skip
    demo.add_argument('--config-dir', type=Path, help='folder of the parameter files')
    demo.add_argument(
        '--startup-timeout',
        type=float,
        default=120.0,
        help='seconds for every node to become active (default 120)',
    )


def run(args: argparse.Namespace, config_dir: Path, up: Any) -> int:
    """Run the demo; ``up`` is the CLI's stack runner. 2 for bad arguments, 1 on a violation."""
    if not 1 <= args.robots <= MAX_ROBOTS:
        print(f'muse-supervisor: error: --robots {args.robots}: expected 1 to {MAX_ROBOTS}',
              file=sys.stderr)  # fmt: skip
        return 2
    if not 1 <= args.port <= 65535:
        print(f'muse-supervisor: error: --port {args.port}: expected 1 to 65535', file=sys.stderr)
        return 2
    timeline = config_dir / 'scenarios' / 'demo_shift.yaml'
    shift = max(event.at for event in load_timeline(timeline).events)
    out = (args.out or Path('demo-runs') / time.strftime('%Y%m%dT%H%M%S')).resolve()
    out.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(9)
    accounts = out / 'hmi_accounts.yaml'
    accounts.write_text(yaml.safe_dump({'accounts': [account_entry('demo', 'operator', secret)]}))
    robots = [f'robot_{i}' for i in range(1, args.robots + 1)]
    plan = [_configured(node, out, timeline, accounts, args) for node in fleet_plan(
        config_dir, robots)]  # fmt: skip
    url = f'http://127.0.0.1:{args.port}/'
    print(f'muse-supervisor demo: {len(robots)} simulated robot(s); the shift takes '
          f'{shift:.0f} s after start-up\n'
          f'  HMI:   {url}  (log in as "demo", secret {secret})\n'
          f'  files: {out}  (nodes.log, hmi_audit.jsonl, recordings/, reports/)\n'
          + ('  plans are approved by policy; the demo plays the operator\n' if args.auto_approve
             else '  plans that need an approval wait for you in the HMI\n'),
          flush=True)  # fmt: skip
    score = ShiftScore()
    monitor = DemoMonitor(robots, score, url, ('demo', secret), args.auto_approve)
    duration = args.duration if args.duration is not None else shift + SETTLE
    progress = _Progress(score, robots, duration, sys.stdout)
    with (out / 'nodes.log').open('w', encoding='utf-8') as log:

        def while_running() -> bool:
            if progress.started is None:
                monitor.start()
                progress.started = time.monotonic()
            monitor.tick()
            return progress.show()

        status = up(plan, args.startup_timeout, None, log=log, while_running=while_running)
        monitor.close()
    progress.done()
    return _finish(score, monitor, out, status)


def _configured(node: NodeLaunch, out: Path, timeline: Path, accounts: Path,
                args: argparse.Namespace) -> NodeLaunch:  # fmt: skip
    robot = node.namespace.strip('/')
    extra: dict[str, str | int | bool] = {
        'sim_world': {'timeline': str(timeline), 'timeline_wait': True},
        'perception': {'recording_folder': str(out / 'recordings' / robot)},
        'reasoner': {
            'auto_approve': AUTO_APPROVE,
            'auto_approve_confidence': AUTO_APPROVE_CONFIDENCE,
        }
        if args.auto_approve
        else {},
        'hmi_bridge': {
            'port': args.port,
            'accounts_file': str(accounts),
            'audit_file': str(out / 'hmi_audit.jsonl'),
        },
    }.get(node.declaration.name, {})  # type: ignore[assignment]
    return replace(node, parameters=(*node.parameters, *extra.items()))


class _Progress:
    """A status line: the time in the shift, incidents, proposals, executions, violations."""

    def __init__(self, score: ShiftScore, robots: list[str], duration: float,
                 stream: IO[str]) -> None:  # fmt: skip
        self.score, self.robots, self.duration, self.stream = score, robots, duration, stream
        self.started: float | None = None
        self._shown = 0.0
        self._tty = stream.isatty()

    def show(self) -> bool:
        assert self.started is not None
        now = time.monotonic()
        elapsed = now - self.started
        if now - self._shown >= (1.0 if self._tty else 10.0):
            self._shown = now
            rows = self.score.rows()
            closed = sum(row.state in ('resolved', 'dismissed', 'failed') for row in rows)
            line = (f'[{elapsed:5.0f}/{self.duration:.0f} s] {len(rows)} incident(s), {closed} '
                    f'closed, {self.score.proposals} proposal(s), {self.score.executions} '
                    f'execution(s), {len(self.score.violations())} violation(s)')  # fmt: skip
            self.stream.write(('\r' + line + ' ' * 8) if self._tty else line + '\n')
            self.stream.flush()
        return elapsed < self.duration

    def done(self) -> None:
        if self._tty:
            self.stream.write('\n')


def _finish(score: ShiftScore, monitor: DemoMonitor, out: Path, status: int) -> int:
    from muse_supervisor.recording.report import RecordingReportError, write_reports

    print('\n' + table(score.rows()))
    for note in monitor.notes:
        print(f'note: {note}')
    summary = score.summary()
    for name, stats in summary['latency_s'].items():
        if stats['n']:
            print(f'{name.replace("_", " ")}: p50 {stats["p50"]:.2f} s, p95 {stats["p95"]:.2f} s '
                  f'over {stats["n"]} incident(s)')  # fmt: skip
    violations = score.violations()
    print(f'invariant violations seen on cmd_vel: {len(violations)}')
    for violation in violations:
        print(f'  {violation}')
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    print(f'summary:   {out / "summary.json"}')
    for recording in sorted((out / 'recordings').rglob('*.mcap')):
        print(f'recording: {recording}')
        try:
            pages = write_reports(recording, out / 'reports' / recording.parent.name)
            print(f'reports:   {pages[-1]}')
        except RecordingReportError as error:
            print(f'reports:   none ({error})')
    if status:
        return status
    return 1 if violations else 0
