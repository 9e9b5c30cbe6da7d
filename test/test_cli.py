"""``muse-supervisor``: start the declared stack as real processes and watch it."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from muse_supervisor.stack import STACK

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
CLI = Path(sys.prefix) / 'bin' / 'muse-supervisor'


def _run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def test_up_brings_every_node_to_active_then_stops_cleanly() -> None:
    result = _run('up', '--namespace', 'cli_up', '--duration', '1')
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'web HMI' in out  # says where plans that need an approval wait
    for node in STACK:
        line = next(line for line in out.splitlines() if f'/cli_up/{node.name} ' in line)
        assert ' active ' in line, line
    assert 'stack is up (6 nodes)' in out and out.rstrip().endswith('stack stopped')
    assert 'parameter files from ' in out  # which config the stack runs with, said at start


def test_up_fails_loudly_when_a_node_refuses_its_configuration(tmp_path: Path) -> None:
    config = tmp_path / 'config'
    shutil.copytree(REPO / 'config', config)
    gate = config / 'safety_gate.yaml'
    gate.write_text(gate.read_text().replace('heartbeat_timeout: 0.5', 'heartbeat_timeout: 0.0'))
    result = _run(
        'up', '--namespace', 'cli_bad', '--config-dir', str(config), '--only', 'safety_gate'
    )
    assert result.returncode == 1
    # up names the node that exited and why (the value refused), not a startup timeout.
    report = next(
        line
        for line in result.stderr.splitlines()
        if 'node /cli_bad/safety_gate exited with status 1' in line
    )
    assert 'heartbeat_timeout' in report, report
    assert 'not every node became active' not in result.stderr
    assert 'no answer' not in result.stdout
    assert ' exited (1) ' in result.stdout


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper does not count)."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def _start_up(namespace: str, *nodes: str) -> tuple[subprocess.Popen[str], list[int], str]:
    """Start ``up`` with these nodes; return it once it says the stack is up, with the pids."""
    only = [arg for node in nodes for arg in ('--only', node)]
    process = subprocess.Popen(
        [str(CLI), 'up', '--namespace', namespace, *only],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    pids, out = [], ''
    for line in process.stdout:
        out += line
        if ' pid ' in line:
            pids.append(int(line.split(' pid ')[1].split()[0]))
        if 'stack is up' in line or time.monotonic() > deadline:
            break
    assert 'stack is up' in out and len(pids) == len(nodes), out
    return process, pids, out


def _gone_within(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if _alive(pid)]


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGHUP], ids=['SIGINT', 'SIGHUP'])
def test_ctrl_c_or_a_closed_terminal_stops_every_node(signum: signal.Signals) -> None:
    process, pids, _ = _start_up(f'cli_{signum.name.lower()}', 'reasoner', 'sim_world')
    process.send_signal(signum)
    assert process.wait(timeout=30) == 0
    assert _gone_within(pids, 1.0) == []


def test_killing_up_takes_every_node_with_it() -> None:
    process, pids, _ = _start_up('cli_kill', 'reasoner', 'sim_world')
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert _gone_within(pids, 5.0) == [], 'nodes outlived a SIGKILLed up'


def test_a_second_up_under_the_same_names_is_refused() -> None:
    # sim_world, not the reasoner: the reasoner takes seconds to load its model, and what is
    # tested here is the CLI's check, not a node's start-up.
    first, pids, _ = _start_up('cli_dup', 'sim_world')
    try:
        second = _run(
            'up', '--namespace', 'cli_dup', '--only', 'sim_world', '--only', 'hmi_bridge'
        )
        assert second.returncode == 2, second.stdout + second.stderr
        assert f'/cli_dup/sim_world: pid {pids[0]}' in second.stderr
        assert 'stop them first' in second.stderr and '/cli_dup/hmi_bridge' not in second.stderr
        assert first.poll() is None and _alive(pids[0])  # the first stack is untouched
    finally:
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=30) == 0


def test_plan_prints_one_command_per_node_per_robot() -> None:
    result = _run('plan', '--namespace', 'r1', '--namespace', 'r2')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 * len(STACK) - 1  # one HMI for the fleet
    assert any('lib/muse_supervisor/safety_gate_node --ros-args' in line for line in lines)
    assert sum('__ns:=/r2' in line for line in lines) == len(STACK) - 1
    assert any('hmi_bridge_node' in line and 'robots:=/r1,/r2' in line for line in lines)


def test_bad_namespace_is_a_usage_error() -> None:
    result = _run('plan', '--namespace', 'robot-1')
    assert result.returncode == 2
    assert "invalid robot namespace 'robot-1'" in result.stderr


def test_one_robot_named_twice_is_a_usage_error() -> None:
    result = _run('up', '--namespace', 'robot_1', '--namespace', '/robot_1')
    assert result.returncode == 2
    assert "/robot_1 is given twice (as 'robot_1' and '/robot_1')" in result.stderr


@pytest.mark.parametrize('value', ['-1', '0', 'nan', 'soon'])
def test_a_duration_that_is_not_positive_is_refused(value: str) -> None:
    result = _run('up', '--duration', value)
    assert result.returncode == 2
    assert 'expected a positive number of seconds' in result.stderr


@pytest.mark.parametrize('command', [[], ['up'], ['plan'], ['teleop']])
def test_help_is_plain_text(command: list[str]) -> None:
    result = _run(*command, '--help')
    assert result.returncode == 0, result.stderr
    assert '``' not in result.stdout and ':func:' not in result.stdout


def test_the_banner_of_a_partial_stack_names_what_starts() -> None:
    result = _run('up', '--namespace', 'cli_one', '--only', 'safety_gate', '--duration', '0.5')
    assert result.returncode == 0, result.stderr
    banner = result.stdout.splitlines()[0]
    assert 'starting 1 node (safety_gate)' in banner and 'skeleton' not in result.stdout
    assert 'stack is up (1 node);' in result.stdout
