"""``muse-supervisor``: start and inspect the stack where ``ros2 launch`` is not available.

    muse-supervisor up [--namespace robot_1 ...] [--only safety_gate ...] [--duration 30]
    muse-supervisor plan [--namespace robot_1 ...]

``up`` starts the nodes from the stack declaration (the same one the launch file uses), waits
until every node reports the lifecycle state ``active``, prints what runs, and keeps the stack up
until Ctrl-C (or ``--duration`` seconds). A node that dies stops the whole stack with status 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from muse_supervisor.stack import PACKAGE, NodeLaunch, StackError, launch_plan
from muse_supervisor.stack.launcher import StackProcesses, find_executable, start

DEMO_NOTE = (
    'note: the end-to-end demo (incident -> plans -> approval -> gated execution) does not '
    'exist yet; this starts the stack with the nodes that exist: the safety gate, and '
    'skeletons of the others.'
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='muse-supervisor', description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    for name, text in (
        ('up', 'start the stack and keep it running'),
        ('plan', 'print the processes `up` would start, with their ROS arguments'),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument(
            '--namespace',
            action='append',
            default=[],
            help='robot namespace; repeat for a fleet (one stack per robot). Default: /',
        )
        command.add_argument(
            '--only', action='append', default=[], help='start only this node (repeatable)'
        )
        command.add_argument('--config-dir', type=Path, help='folder of the parameter files')
    up = commands.choices['up']
    up.add_argument('--duration', type=float, help='stop after this many seconds')
    up.add_argument(
        '--startup-timeout',
        type=float,
        default=30.0,
        help='seconds to wait for every node to become active (default 30)',
    )
    return parser


def _resolve(args: argparse.Namespace) -> list[NodeLaunch]:
    config_dir = args.config_dir or default_config_dir()
    plan: list[NodeLaunch] = []
    for namespace in args.namespace or ['']:
        plan += launch_plan(config_dir, namespace, only=tuple(args.only))
    return plan


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``muse-supervisor`` command."""
    args = _parser().parse_args(argv)
    try:
        plan = _resolve(args)
        if args.command == 'plan':
            prefixes = ament_prefixes()
            for node in plan:
                exe = find_executable(prefixes, PACKAGE, node.declaration.executable)
                print(' '.join([str(exe), *node.ros_arguments()]))
            return 0
        return _up(plan, args.startup_timeout, args.duration)
    except StackError as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2


def _up(plan: list[NodeLaunch], startup_timeout: float, duration: float | None) -> int:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    from muse_supervisor.stack.readiness import lifecycle_states

    print(DEMO_NOTE, flush=True)
    prefixes = ament_prefixes()
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    # rclpy's own handlers would shut its context down under us; ours stop the stack in order.
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    stack = start(plan, lambda exe: find_executable(prefixes, PACKAGE, exe))
    observer = rclpy.create_node('muse_supervisor_up')
    executor = SingleThreadedExecutor()
    executor.add_node(observer)
    try:
        states = lifecycle_states(
            observer,
            [node.fully_qualified_name for node in plan],
            startup_timeout,
            spin_once=lambda timeout: executor.spin_once(timeout_sec=timeout),
            keep_waiting=lambda: not stopping and not stack.exited(),
        )
        _print_table(stack, states)
        if stopping:
            return 0
        if _report_exits(stack) or any(label != 'active' for label in states.values()):
            print(
                f'muse-supervisor: error: not every node became active within '
                f'{startup_timeout:.0f} s; stopping the stack',
                file=sys.stderr,
            )
            return 1
        until = 'Ctrl-C' if duration is None else f'{duration:g} s have passed'
        print(
            f'muse-supervisor: stack is up ({len(plan)} nodes); running until {until}', flush=True
        )
        end = time.monotonic() + duration if duration is not None else float('inf')
        while not stopping and time.monotonic() < end:
            if _report_exits(stack):
                return 1
            time.sleep(0.2)
        return 0
    finally:
        executor.shutdown()
        observer.destroy_node()
        rclpy.try_shutdown()
        stack.stop()
        print('muse-supervisor: stack stopped', flush=True)


def _report_exits(stack: StackProcesses) -> bool:
    exited = stack.exited()
    for node, status in exited:
        print(
            f'muse-supervisor: error: node {node.name} exited with status {status}; '
            'stopping the stack',
            file=sys.stderr,
        )
    return bool(exited)


def _print_table(stack: StackProcesses, states: dict[str, str]) -> None:
    width = max(len(node.name) for node in stack.nodes)
    for node in stack.nodes:
        print(
            f'  {node.name:<{width}}  pid {node.process.pid:<7}  {states[node.name]:<10}  '
            f'{node.launch.declaration.role}',
            flush=True,
        )


if __name__ == '__main__':
    sys.exit(main())
