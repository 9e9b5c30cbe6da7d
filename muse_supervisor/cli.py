"""The ``muse-supervisor`` command: start, inspect and drive the stack without ``ros2 launch``.

    muse-supervisor up [--namespace robot_1 ...] [--only safety_gate ...] [--duration 30]
    muse-supervisor plan [--namespace robot_1 ...]
    muse-supervisor teleop [--namespace robot_1] [--linear 0.2 --duration 3]
    muse-supervisor replay FILE.mcap [--namespace robot_1] [--incident ID] [--rate 2]
    muse-supervisor propose SCENARIO.yaml [--mode instant|thinking] [--json]
    muse-supervisor eval DIR [--mode instant|thinking|both] [--json REPORT.json]

``up`` starts the nodes from the stack declaration (the same one the launch file uses), waits
until every node reports the lifecycle state ``active``, prints what runs, and keeps the stack up
until Ctrl-C, SIGTERM or SIGHUP (or ``--duration`` seconds). A node that dies stops the whole
stack with status 1. ``teleop`` publishes the supervisor heartbeat and velocity commands on the
gate's teleop source, so the gate can be driven by hand. ``replay`` re-publishes the incidents
(and their key frames and proposals) of an incident recording, so the reasoner receives them as
if live.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from muse_supervisor import cli_hmi, cli_reasoner
from muse_supervisor.demo import run as demo_run
from muse_supervisor.stack import PACKAGE, STACK, NodeLaunch, StackError, fleet_plan
from muse_supervisor.stack.duplicates import clash_message, clashes, is_newcomer
from muse_supervisor.stack.launcher import NodeProcess, StackProcesses, find_executable, start
from muse_supervisor.stack.signals import init_ros
from muse_supervisor.teleop.core import Limits, Steps, TeleopError, Velocity

DESCRIPTION = 'start, inspect and drive the muse_supervisor stack without ros2 launch'
# How long `up` listens to the graph for nodes that already carry the stack's names.
DISCOVERY_SETTLE = 2.0
NEWCOMER_WINDOW = 15.0  # s: a duplicate on another host stops a stack this young
EPILOG = (
    'Parameter files: the installed share/muse_supervisor/config unless --config-dir is given; '
    "./run.sh reinstalls the clone's config/ before it starts the stack."
)


def ament_prefixes() -> list[Path]:
    """The install prefixes to search: AMENT_PREFIX_PATH, else this interpreter's prefix."""
    value = os.environ.get('AMENT_PREFIX_PATH', '')
    prefixes = [Path(p) for p in value.split(os.pathsep) if p]
    return prefixes or [Path(sys.prefix)]


def default_config_dir() -> Path:
    """The installed ``share/muse_supervisor/config`` folder."""
    for prefix in ament_prefixes():
        candidate = prefix / 'share' / PACKAGE / 'config'
        if candidate.is_dir():
            return candidate
    raise StackError(
        f'no share/{PACKAGE}/config under {[str(p) for p in ament_prefixes()]}; '
        'build and install the package first (see README) or pass --config-dir'
    )


def _number(expected: str, accept: Callable[[float], bool]) -> Callable[[str], float]:
    """An argparse type: a finite number that ``accept`` allows, else a usage error."""

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f'expected {expected}, got {text!r}')
        return value

    return convert


_positive_seconds = _number('a positive number of seconds', lambda v: v > 0)
_positive = _number('a positive number', lambda v: v > 0)
_finite = _number('a number', lambda v: True)
_seconds = _number('a number of seconds, 0 or more', lambda v: v >= 0)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='muse-supervisor', description=DESCRIPTION)
    commands = parser.add_subparsers(dest='command', required=True)
    for name, text in (
        ('up', 'start the stack and keep it running'),
        ('plan', 'print the processes "up" would start, with their ROS arguments'),
    ):
        command = commands.add_parser(name, help=text, description=text, epilog=EPILOG)
        command.add_argument(
            '--namespace',
            action='append',
            default=[],
            help='robot namespace; repeat for a fleet (one stack per robot). Default: /',
        )
        command.add_argument(
            '--only',
            action='append',
            default=[],
            choices=[node.name for node in STACK],
            metavar='NODE',
            help='start only this node (repeatable): ' + ', '.join(n.name for n in STACK),
        )
        command.add_argument('--config-dir', type=Path, help='folder of the parameter files')
    up = commands.choices['up']
    up.add_argument('--duration', type=_positive_seconds, help='stop after this many seconds')
    up.add_argument(
        '--startup-timeout',
        type=_positive_seconds,
        default=90.0,
        help='seconds to wait for every node to become active (default 90: the reasoner loads '
        'its embedding model first)',
    )
    _teleop_parser(commands)
    _replay_parser(commands)
    cli_reasoner.add_parsers(commands)
    cli_hmi.add_parsers(commands)
    demo_run.add_parser(commands)
    return parser


def _replay_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = 're-publish recorded incidents (with their key frames and proposals) for the reasoner'
    replay = commands.add_parser(
        'replay',
        help=text,
        description=(
            f'{text}. Reads an incident recording (an MCAP file of the incident recorder, also '
            'one cut short by a crash) and publishes its messages on their recorded topics, in '
            'recorded order, with the QoS their publishers offered; progress goes to stderr.'
        ),
    )
    replay.add_argument('file', type=Path, metavar='FILE.mcap', help='the recording to replay')
    replay.add_argument(
        '--namespace',
        help='robot namespace to publish in (default: the one the file was recorded in)',
    )
    replay.add_argument('--incident', metavar='ID', help='replay only this incident (its id)')
    replay.add_argument(
        '--rate',
        type=_positive,
        default=1.0,
        help='speed factor on the recorded timing: 2 plays twice as fast (default 1)',
    )
    replay.add_argument(
        '--wait-for-subscriber',
        type=_seconds,
        default=5.0,
        metavar='SECONDS',
        help='seconds to wait for a subscriber on the incidents topic first (default 5)',
    )


def _teleop_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = 'drive the safety gate by hand: heartbeat plus velocity commands'
    teleop = commands.add_parser(
        'teleop',
        help=text,
        description=(
            f'{text}. Publishes the supervisor heartbeat on <namespace>/heartbeat and commands on '
            "the gate's teleop source <namespace>/cmd_vel_teleop, 20 times a second. With a "
            'terminal and no --linear/--angular it reads keys; otherwise it sends the given '
            'command for --duration seconds (or until Ctrl-C), then zero.'
        ),
    )
    teleop.add_argument('--namespace', default='', help='robot namespace of the gate. Default: /')
    teleop.add_argument(
        '--topic', default='cmd_vel_teleop', help='command source topic (default cmd_vel_teleop)'
    )
    teleop.add_argument('--linear', type=_finite, help='forward speed to send, m/s (scripted)')
    teleop.add_argument('--angular', type=_finite, help='turn rate to send, rad/s (scripted)')
    teleop.add_argument('--duration', type=_positive_seconds, help='stop after this many seconds')
    teleop.add_argument(
        '--heartbeat-only',
        action='store_true',
        help='send the heartbeat and no commands (lets another source, e.g. Nav2, drive)',
    )
    teleop.add_argument(
        '--max-linear',
        type=_positive,
        default=0.5,
        help='largest forward speed, m/s (default 0.5, the shipped gate limit)',
    )
    teleop.add_argument(
        '--max-angular',
        type=_positive,
        default=1.0,
        help='largest turn rate, rad/s (default 1.0, the shipped gate limit)',
    )
    teleop.add_argument(
        '--linear-step', type=_positive, default=0.05, help='m/s per key press (default 0.05)'
    )
    teleop.add_argument(
        '--angular-step', type=_positive, default=0.2, help='rad/s per key press (default 0.2)'
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``muse-supervisor`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == 'teleop':
            return _teleop(args)
        if args.command == 'replay':
            return _replay(args)
        if args.command == 'hmi-account':
            return cli_hmi.run(args)
        if args.command == 'report':
            return cli_hmi.run_report(args)
        if args.command == 'demo':
            return demo_run.run(args, args.config_dir or default_config_dir(), _up)
        if args.command in ('propose', 'eval'):
            return cli_reasoner.run(args, args.config_dir or default_config_dir())
        config_dir = args.config_dir or default_config_dir()
        plan = fleet_plan(config_dir, args.namespace, only=tuple(args.only))
        if args.command == 'plan':
            prefixes = ament_prefixes()
            for node in plan:
                exe = find_executable(prefixes, PACKAGE, node.declaration.executable)
                print(' '.join([str(exe), *node.ros_arguments()]))
            return 0
        print(_banner(plan), flush=True)
        print(_config_note(config_dir, given=args.config_dir is not None), flush=True)
        return _up(plan, args.startup_timeout, args.duration)
    except (StackError, TeleopError) as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2


def _nodes(count: int) -> str:
    return f'{count} node' if count == 1 else f'{count} nodes'


def _banner(plan: list[NodeLaunch]) -> str:
    names = sorted({node.declaration.name for node in plan})
    robots = sorted({node.namespace for node in plan})
    if len(names) == len(STACK):
        what = (
            'the safety gate, perception, the reasoner, the plan simulator, the simulated robot '
            'and the operator HMI'
        )
    else:
        what = ', '.join(names)
    return (
        f'muse-supervisor: starting {_nodes(len(plan))} ({what}) for '
        f'{len(robots)} robot namespace(s): {", ".join(robots)}\n'
        'note: plans that need an approval wait for an operator in the web HMI (hmi_bridge logs '
        "its address); plans run alone only where the reasoner's auto_approve policy allows "
        '(none does by default)'
    )


def _config_note(config_dir: Path, *, given: bool) -> str:
    """Which parameter files the stack uses, and whether the clone's differ from them."""
    note = f'muse-supervisor: parameter files from {config_dir}'
    clone = Path.cwd() / 'config'
    if given or not (Path.cwd() / 'package.xml').is_file() or not clone.is_dir():
        return note
    if clone.resolve() == config_dir.resolve():
        return note
    differ = [
        path.name
        for path in sorted(clone.glob('*.yaml'))
        if not (config_dir / path.name).is_file()
        or not filecmp.cmp(path, config_dir / path.name, shallow=False)
    ]
    if differ:
        note += (
            f'\nnote: ./config/{{{",".join(differ)}}} differ from these installed copies and are '
            'not used: ./run.sh reinstalls them, or pass --config-dir config'
        )
    return note


def _up(
    plan: list[NodeLaunch],
    startup_timeout: float,
    duration: float | None,
    *,
    log: IO[str] | None = None,
    while_running: Callable[[], bool] | None = None,
) -> int:
    """Start ``plan``, wait until every node is active, run until stopped; the exit status.

    ``log`` receives the nodes' output (default: stderr); ``while_running`` is called about five
    times a second once the stack is up, and the stack stops when it returns false (the demo).
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from muse_supervisor.stack.readiness import lifecycle_states, name_counts, nodes_on_graph

    prefixes = ament_prefixes()
    executables = {
        node.declaration.executable: find_executable(
            prefixes, PACKAGE, node.declaration.executable
        )
        for node in plan
    }
    # SIGHUP (terminal or SSH session closed) stops the stack like Ctrl-C.
    stopping = init_ros()
    observer = rclpy.create_node('muse_supervisor_up')
    executor = SingleThreadedExecutor()
    executor.add_node(observer)
    stack = StackProcesses()

    def spin_once(timeout: float) -> None:
        executor.spin_once(timeout_sec=timeout)

    try:
        names = [node.fully_qualified_name for node in plan]
        running = clashes(names, nodes_on_graph(observer, DISCOVERY_SETTLE, spin_once))
        if running:
            return _refuse(running)
        if stopping:
            return 0
        stack = start(plan, executables.__getitem__, stderr=log)

        def twice() -> list[str]:
            # A node of the same name that discovery brought in late shows up as a second entry.
            return clashes(names, name_counts(observer, more_than=1))

        states = lifecycle_states(
            observer,
            names,
            startup_timeout,
            spin_once=spin_once,
            keep_waiting=lambda: not stopping and not stack.exited() and not twice(),
        )
        for _ in range(10):  # a last look, for nodes that became active before discovery ended
            if twice():
                break
            spin_once(0.1)
        if twice():
            return _refuse(twice())
        exited = stack.exited()
        for node, status in exited:
            states[node.name] = f'exited ({status})'
        _print_table(stack, states)
        if stopping:
            return 0
        if exited:
            _report_exits(exited)
            return 1
        inactive = {name: label for name, label in states.items() if label != 'active'}
        if inactive:
            print(
                f'muse-supervisor: error: not every node became active within '
                f'{startup_timeout:g} s: '
                + ', '.join(f'{name} ({label})' for name, label in inactive.items())
                + '; stopping the stack',
                file=sys.stderr,
            )
            return 1
        until = 'Ctrl-C' if duration is None else f'{duration:g} s have passed'
        print(
            f'muse-supervisor: stack is up ({_nodes(len(plan))}); running until {until}',
            flush=True,
        )
        end = time.monotonic() + duration if duration is not None else math.inf
        # Discovery can take seconds on a loaded host: a name listed twice later on stops this
        # stack if it is the newcomer (its processes started later; see is_newcomer).
        newcomer_until = time.monotonic() + NEWCOMER_WINDOW
        warned = False
        while not stopping and time.monotonic() < end:
            if while_running is not None and not while_running():
                break
            exited = stack.exited()
            if exited:
                _report_exits(exited)
                return 1
            duplicated = twice()
            if duplicated:
                own = {node.process.pid for node in stack.nodes}
                if is_newcomer(duplicated, own, time.monotonic() < newcomer_until):
                    return _refuse(duplicated)
                if not warned:
                    print(
                        f'muse-supervisor: warning: {", ".join(duplicated)} now also run '
                        'elsewhere, started after this stack; that one should give way',
                        file=sys.stderr,
                    )
                    warned = True
            time.sleep(0.2)
        return 0
    finally:
        executor.shutdown()
        observer.destroy_node()
        rclpy.try_shutdown()
        if stack.nodes:
            stack.stop()
            print('muse-supervisor: stack stopped', flush=True)


def _refuse(running: list[str]) -> int:
    domain = os.environ.get('ROS_DOMAIN_ID', '0')
    print(f'muse-supervisor: error: {clash_message(running, domain)}', file=sys.stderr)
    return 2


def _report_exits(exited: list[tuple[NodeProcess, int]]) -> None:
    for node, status in exited:
        reason = node.reason()
        print(
            f'muse-supervisor: error: node {node.name} exited with status {status}'
            + (f': {reason}' if reason else ' (its log above says why)')
            + '; stopping the stack',
            file=sys.stderr,
        )


def _print_table(stack: StackProcesses, states: dict[str, str]) -> None:
    width = max(len(node.name) for node in stack.nodes)
    for node in stack.nodes:
        print(
            f'  {node.name:<{width}}  pid {node.process.pid:<7}  {states[node.name]:<10}  '
            f'{node.launch.declaration.role}',
            flush=True,
        )


def _teleop(args: argparse.Namespace) -> int:
    from muse_supervisor.stack.declaration import normalize_namespace
    from muse_supervisor.teleop.node import TeleopOptions, keyboard_or_none, run

    limits = Limits(args.max_linear, args.max_angular)
    command = None
    if args.linear is not None or args.angular is not None:
        command = limits.check(Velocity(args.linear or 0.0, args.angular or 0.0))
    keyboard = keyboard_or_none()
    if command is None and not args.heartbeat_only and keyboard is None:
        raise TeleopError(
            'no terminal to read keys from: pass --linear and/or --angular (and --duration) '
            'to send a fixed command, or --heartbeat-only'
        )
    options = TeleopOptions(
        namespace=normalize_namespace(args.namespace),
        topic=args.topic,
        limits=limits,
        steps=Steps(args.linear_step, args.angular_step),
        command=command,
        duration=args.duration,
        heartbeat_only=args.heartbeat_only,
    )
    return run(options, keyboard if command is None else None)


def _replay(args: argparse.Namespace) -> int:
    """Replay a recording; its errors (not MCAP, no incidents, unknown id) exit with status 2."""
    import rclpy

    from muse_supervisor.recording.reader import RecordingError
    from muse_supervisor.recording.replay import ReplayError, ReplayOptions, replay

    options = ReplayOptions(
        path=args.file,
        namespace=args.namespace,
        incident=args.incident,
        rate=args.rate,
        wait_for_subscriber=args.wait_for_subscriber,
    )
    stopping = init_ros()
    try:
        replay(options, stopping=lambda: bool(stopping))
    except (RecordingError, ReplayError) as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
