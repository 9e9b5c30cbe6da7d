"""The launcher's process handling and the duplicate check, without ROS.

The nodes are stood in for by small programs; what is tested is what ``up`` does with any
child: it never outlives the launcher, its last error lines become the reported reason, and a
name already running is found and explained.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from muse_supervisor.stack import StackError, fleet_plan, launch_plan
from muse_supervisor.stack.duplicates import (
    clash_message,
    clashes,
    is_newcomer,
    processes_running,
    started_at,
)
from muse_supervisor.stack.launcher import exit_reason, start

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'config'


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not count)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != 'Z'


def _wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _alive(pid)]
        if not alive:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if _alive(pid)]


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='parent-death signal is Linux')
def test_children_end_when_the_launcher_is_killed(tmp_path: Path) -> None:
    # A launcher that starts two long-sleeping "nodes", prints their pids, then waits forever.
    child = tmp_path / 'node'
    child.write_text('#!/bin/sh\nexec sleep 600\n')
    child.chmod(0o755)
    launcher = tmp_path / 'launcher.py'
    launcher.write_text(
        textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from muse_supervisor.stack import launch_plan
            from muse_supervisor.stack.launcher import start
            plan = launch_plan(Path({str(CONFIG)!r}), 'kill_test', only=('reasoner', 'sim_world'))
            stack = start(plan, lambda exe: Path({str(child)!r}))
            print(' '.join(str(n.process.pid) for n in stack.nodes), flush=True)
            time.sleep(600)
        """)
    )
    process = subprocess.Popen(
        [sys.executable, str(launcher)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, 'PYTHONPATH': str(REPO)},
    )
    assert process.stdout is not None
    pids = [int(pid) for pid in process.stdout.readline().split()]
    assert len(pids) == 2 and all(_alive(pid) for pid in pids)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=5)
    assert _wait_gone(pids, timeout=5) == [], 'children outlived a SIGKILLed launcher'


def test_a_childs_last_error_lines_are_its_exit_reason(tmp_path: Path) -> None:
    child = tmp_path / 'node'
    child.write_text(
        '#!/bin/sh\n'
        'echo "[INFO] [1.0] [r.safety_gate]: starting" >&2\n'
        'echo "[ERROR] [1.1] [r.safety_gate]: invalid configuration: heartbeat_timeout=0.0" >&2\n'
        'echo "[FATAL] [1.2] [r.safety_gate]: autostart: configure failed; exiting" >&2\n'
        'exit 1\n'
    )
    child.chmod(0o755)
    plan = launch_plan(CONFIG, 'r', only=('safety_gate',))
    relayed = tmp_path / 'stderr.txt'
    with relayed.open('w') as sink:
        stack = start(plan, lambda exe: child, stderr=sink)
        node = stack.nodes[0]
        assert node.process.wait(timeout=10) == 1
        reason = node.reason()
        stack.stop()
    assert reason == (
        'invalid configuration: heartbeat_timeout=0.0; autostart: configure failed; exiting'
    )
    assert 'starting' in relayed.read_text()  # everything the node says still reaches the user


def test_exit_reason_falls_back_to_a_tracebacks_last_line() -> None:
    lines = ['Traceback (most recent call last):', '  File "x.py", line 1', 'KeyError: 3', '']
    assert exit_reason(lines) == 'KeyError: 3'
    assert exit_reason(['[INFO] [1.0] [n]: bye']) == ''


def test_one_robot_given_twice_is_refused() -> None:
    with pytest.raises(
        StackError, match=r"/robot_1 is given twice \(as 'robot_1' and '/robot_1'\)"
    ):
        fleet_plan(CONFIG, ['robot_1', '/robot_1'])
    # Two robots: two stacks, one HMI between them (test_stack_declaration).
    assert len(fleet_plan(CONFIG, ['robot_1', 'robot_2'])) == 2 * len(launch_plan(CONFIG)) - 1
    assert [n.namespace for n in fleet_plan(CONFIG, [])] == ['/'] * len(launch_plan(CONFIG))


def test_clashes_keep_the_planned_order() -> None:
    planned = ['/r/safety_gate', '/r/reasoner', '/r/hmi_bridge']
    assert clashes(planned, {'/r/hmi_bridge', '/other/x', '/r/safety_gate'}) == [
        '/r/safety_gate',
        '/r/hmi_bridge',
    ]
    assert clashes(planned, set()) == []


def _fake_proc(root: Path, pid: int, parent: int, argv: list[str], start: int = 100) -> None:
    entry = root / str(pid)
    entry.mkdir()
    (entry / 'cmdline').write_bytes(b'\0'.join(a.encode() for a in argv) + b'\0')
    rest = ' '.join(['0'] * 15)  # fields 7-21 of /proc/<pid>/stat; starttime is field 22
    (entry / 'stat').write_text(f'{pid} (safety gate) S {parent} 1 1 {rest} {start} 0\n')


def test_the_process_behind_a_clash_is_named_with_how_to_stop_it(tmp_path: Path) -> None:
    gate = ['python', 'safety_gate_node', '--ros-args', '-r', '__node:=safety_gate']
    _fake_proc(tmp_path, 4242, 4000, [*gate, '-r', '__ns:=/robot_1'])
    _fake_proc(tmp_path, 4343, 4000, [*gate, '-r', '__ns:=/robot_2'])
    found = processes_running('/robot_1/safety_gate', tmp_path)
    assert [(p.pid, p.parent) for p in found] == [(4242, 4000)]
    message = clash_message(['/robot_1/safety_gate', '/robot_1/reasoner'], '42', tmp_path)
    assert '/robot_1/safety_gate: pid 4242 (parent 4000)' in message
    assert '/robot_1/reasoner: not a process of this machine' in message
    assert 'ROS_DOMAIN_ID=42' in message and 'another --namespace' in message


def test_the_stack_whose_nodes_started_later_gives_way(tmp_path: Path) -> None:
    """A duplicate seen only after start-up (slow discovery) stops the newer stack, not both."""
    gate = ['python', 'safety_gate_node', '--ros-args', '-r', '__node:=safety_gate']
    _fake_proc(tmp_path, 100, 1, [*gate, '-r', '__ns:=/robot_1'], start=5000)  # the older
    _fake_proc(tmp_path, 200, 1, [*gate, '-r', '__ns:=/robot_1'], start=9000)  # the newer
    assert started_at(100, tmp_path) == 5000
    names = ['/robot_1/safety_gate']
    assert is_newcomer(names, {200}, recent=False, proc=tmp_path)
    assert not is_newcomer(names, {100}, recent=True, proc=tmp_path)
    # The other node on another host: only a stack that has just started gives way.
    assert is_newcomer(['/robot_2/safety_gate'], {200}, recent=True, proc=tmp_path)
    assert not is_newcomer(['/robot_2/safety_gate'], {200}, recent=False, proc=tmp_path)
