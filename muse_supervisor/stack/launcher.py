"""Start the declared stack as processes, watch them, and stop them cleanly.

What ``ros2 launch`` does for ROS 2 installs, for environments without it: one process per node,
each started with the ROS arguments the declaration resolves. A node that exits while the stack
runs brings the whole stack down with a non-zero status: a supervisor with a missing safety gate
must not look healthy.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from muse_supervisor.stack.declaration import NodeLaunch, StackError


@dataclass
class NodeProcess:
    """A running node of the stack."""

    launch: NodeLaunch
    process: subprocess.Popen[bytes]

    @property
    def name(self) -> str:
        """The node's fully qualified name."""
        return self.launch.fully_qualified_name


@dataclass
class StackProcesses:
    """The processes of a started stack."""

    nodes: list[NodeProcess] = field(default_factory=list)

    def exited(self) -> list[tuple[NodeProcess, int]]:
        """Nodes whose process has ended, with its exit status."""
        ended = []
        for node in self.nodes:
            status = node.process.poll()
            if status is not None:
                ended.append((node, status))
        return ended

    def stop(self, grace: float = 5.0) -> None:
        """Ask every node to stop (SIGINT, as Ctrl-C would), escalating after ``grace`` s."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            alive = [node for node in self.nodes if node.process.poll() is None]
            if not alive:
                return
            for node in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signum)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(n.process.poll() is None for n in alive):
                time.sleep(0.05)


def find_executable(prefixes: list[Path], package: str, executable: str) -> Path:
    """Locate ``lib/<package>/<executable>`` under one of ``prefixes`` (the ament prefixes)."""
    for prefix in prefixes:
        candidate = prefix / 'lib' / package / executable
        if os.access(candidate, os.X_OK):
            return candidate
    raise StackError(
        f'executable {executable!r} of package {package!r} not found under '
        f'{[str(p) for p in prefixes]}; build and install the package first (see README)'
    )


def start(
    plan: list[NodeLaunch],
    resolve: Callable[[str], Path],
    env: dict[str, str] | None = None,
) -> StackProcesses:
    """Start one process per node of ``plan``; ``resolve`` maps an executable to its path."""
    stack = StackProcesses()
    try:
        for launch in plan:
            command = [str(resolve(launch.declaration.executable)), *launch.ros_arguments()]
            # Own process group: Ctrl-C reaches the launcher, which stops the nodes in order.
            process = subprocess.Popen(command, env=env, start_new_session=True)
            stack.nodes.append(NodeProcess(launch, process))
    except BaseException:
        stack.stop()
        raise
    return stack
