"""``muse-supervisor``: start the declared stack as real processes and watch it."""

from __future__ import annotations

import os
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
    assert 'end-to-end demo' in out  # says plainly what the main job is today
    for node in STACK:
        line = next(line for line in out.splitlines() if f'/cli_up/{node.name} ' in line)
        assert ' active ' in line, line
    assert 'stack is up (6 nodes)' in out and out.rstrip().endswith('stack stopped')


def test_up_fails_loudly_when_a_node_refuses_its_configuration(tmp_path: Path) -> None:
    config = tmp_path / 'config'
    shutil.copytree(REPO / 'config', config)
    gate = config / 'safety_gate.yaml'
    gate.write_text(gate.read_text().replace('heartbeat_timeout: 0.5', 'heartbeat_timeout: 0.0'))
    result = _run(
        'up', '--namespace', 'cli_bad', '--config-dir', str(config), '--only', 'safety_gate'
    )
    assert result.returncode == 1
    assert 'heartbeat_timeout' in result.stderr  # the node says which value was refused
    assert 'node /cli_bad/safety_gate exited with status 1' in result.stderr


def test_ctrl_c_stops_every_node() -> None:
    process = subprocess.Popen(
        [str(CLI), 'up', '--namespace', 'cli_int', '--only', 'reasoner', '--only', 'sim_world'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    pids = []
    for line in process.stdout:
        if ' pid ' in line:
            pids.append(int(line.split(' pid ')[1].split()[0]))
        if 'stack is up' in line or time.monotonic() > deadline:
            break
    assert len(pids) == 2
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_plan_prints_one_command_per_node_per_robot() -> None:
    result = _run('plan', '--namespace', 'r1', '--namespace', 'r2')
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2 * len(STACK)
    assert any('lib/muse_supervisor/safety_gate_node --ros-args' in line for line in lines)
    assert sum('__ns:=/r2' in line for line in lines) == len(STACK)


def test_bad_namespace_is_a_usage_error() -> None:
    result = _run('plan', '--namespace', 'robot-1')
    assert result.returncode == 2
    assert "invalid robot namespace 'robot-1'" in result.stderr
