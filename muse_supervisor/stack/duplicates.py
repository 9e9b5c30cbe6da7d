"""Refuse to start a node whose name already runs on the ROS graph.

ROS 2 lets two nodes share one fully qualified name, and nothing warns: a second safety gate
under ``/robot_1`` would latch the first (it sees a rogue ``cmd_vel`` publisher) while the second
launcher reports its stack as up. So ``up`` looks at the graph before it starts anything. This
module holds the ROS-free part: which names clash, which local processes carry them, and what to
tell the user.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path('/proc')


@dataclass(frozen=True)
class LocalProcess:
    """A process of this machine whose command line starts a given node."""

    pid: int
    parent: int
    command: str


def clashes(planned: Iterable[str], on_graph: Iterable[str]) -> list[str]:
    """The planned fully qualified names already on the graph, in the planned order."""
    running = set(on_graph)
    return [name for name in planned if name in running]


def processes_running(fully_qualified_name: str, proc: Path = PROC) -> list[LocalProcess]:
    """Local processes started with ROS arguments naming this node (best effort, Linux).

    Matches the ``__node:=`` and ``__ns:=`` remappings that ``up``, ``ros2 run`` and ``ros2
    launch`` pass; a node named in its code only is not found, and the graph still tells.
    """
    namespace, _, name = fully_qualified_name.rpartition('/')
    wanted = {f'__node:={name}', f'__ns:={namespace or "/"}'}
    found = []
    for entry in proc.glob('[0-9]*'):
        try:
            argv = (entry / 'cmdline').read_bytes().split(b'\0')
            status = (entry / 'stat').read_text()
        except OSError:
            continue
        args = [arg.decode(errors='replace') for arg in argv if arg]
        if int(entry.name) == os.getpid() or not wanted <= set(args):
            continue
        # /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
        parent = int(status.rsplit(')', 1)[1].split()[1])
        found.append(LocalProcess(int(entry.name), parent, ' '.join(args)))
    return sorted(found, key=lambda p: p.pid)


def clash_message(names: list[str], domain: str, proc: Path = PROC) -> str:
    """What to tell the user when ``names`` already run: which, where, and how to stop them."""
    lines = [
        f'{len(names)} node(s) of this stack already run on the ROS graph '
        f'(ROS_DOMAIN_ID={domain}); a second node under the same name would fight the first:'
    ]
    for name in names:
        local = processes_running(name, proc)
        where = ', '.join(f'pid {p.pid} (parent {p.parent})' for p in local)
        lines.append(f'  {name}: ' + (where or 'not a process of this machine (or not found)'))
    lines.append(
        'stop them first (Ctrl-C in the terminal of the `muse-supervisor up` or `ros2 launch` '
        'that started them, or `kill <pid>`; `ros2 node list` shows the graph), or start this '
        'stack under another --namespace'
    )
    return '\n'.join(lines)


def started_at(pid: int, proc: Path = PROC) -> int | None:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22)."""
    try:
        status = (proc / str(pid) / 'stat').read_text()
    except OSError:
        return None
    return int(status.rsplit(')', 1)[1].split()[19])


def is_newcomer(names: Iterable[str], own_pids: set[int], recent: bool, proc: Path = PROC) -> bool:
    """Whether this stack, not the other, should give way for the duplicated ``names``.

    The stack whose node processes started later is the newcomer. When the other node runs on
    another host (no local process carries the name), the stack that has only just started
    (``recent``) counts as the newcomer.
    """
    own = [t for t in (started_at(pid, proc) for pid in own_pids) if t is not None]
    for name in names:
        others = [p for p in processes_running(name, proc) if p.pid not in own_pids]
        starts = [t for t in (started_at(p.pid, proc) for p in others) if t is not None]
        if starts and own:
            return min(starts) <= min(own)
    return recent
