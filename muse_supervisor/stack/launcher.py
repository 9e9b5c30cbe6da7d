"""Start the declared stack as processes, watch them, and stop them cleanly.

What ``ros2 launch`` does for ROS 2 installs, for environments without it: one process per node,
each started with the ROS arguments the declaration resolves. A node that exits while the stack
runs brings the whole stack down with a non-zero status: a supervisor with a missing safety gate
must not look healthy.

The nodes never outlive the launcher. Each child runs in a session of its own (a Ctrl-C in the
terminal reaches the launcher only, which then stops the nodes in order), and asks the kernel for
SIGTERM when the launcher dies, however it dies: SIGKILL and a crash included (Linux
``PR_SET_PDEATHSIG``). SIGTERM makes a node exit as Ctrl-C would, the safety gate's last zero
included.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from muse_supervisor.stack.declaration import NodeLaunch, StackError

# linux/prctl.h
_PR_SET_PDEATHSIG = 1
# A ROS log line: ``[ERROR] [1733054400.123456789] [robot_1.safety_gate]: the message``.
_LOG_LINE = re.compile(r'^\[(?P<level>[A-Z]+)\]\s+\[[^\]]*\]\s+\[[^\]]*\]:\s*(?P<message>.*)$')
_TAIL_LINES = 40


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when its parent dies, or None.

    Built in the parent (library lookup and all), so that the forked child only makes one
    system call before ``exec``. The kernel sends the signal when the *thread* that started the
    child ends, so :func:`start` must be called from a thread that lives as long as the stack
    (``up`` calls it from its main thread). The child checks that its parent is still the
    launcher right after the call: a launcher that died in between would otherwise leave it
    running.
    """
    if not sys.platform.startswith('linux'):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
    prctl = libc.prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    launcher = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != launcher:
            os._exit(1)

    return preexec


class OutputTail:
    """Relays a child's stderr to ours, line by line, and keeps its last lines.

    The last lines say why a node exited (an invalid parameter, a traceback), so the launcher
    can report the reason beside the exit status.
    """

    def __init__(self, stream: IO[bytes], sink: IO[str]) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._relay, args=(stream, sink), daemon=True)
        self._thread.start()

    def _relay(self, stream: IO[bytes], sink: IO[str]) -> None:
        for raw in iter(stream.readline, b''):
            line = raw.decode(errors='replace').rstrip('\n')
            with self._lock:
                self._lines.append(line)
            with contextlib.suppress(OSError, ValueError):
                sink.write(line + '\n')
                sink.flush()
        stream.close()

    def join(self, timeout: float) -> None:
        """Wait until the child's stderr is closed and everything has been relayed."""
        self._thread.join(timeout)

    def lines(self) -> list[str]:
        """The last lines seen, oldest first."""
        with self._lock:
            return list(self._lines)


def exit_reason(lines: list[str]) -> str:
    """Why a node exited, from the last lines of its stderr ('' when they do not say).

    The node's own error and fatal log messages, oldest first, or else the last line of a
    Python traceback.
    """
    messages = []
    for line in lines:
        match = _LOG_LINE.match(line)
        if match and match['level'] in ('ERROR', 'FATAL'):
            messages.append(match['message'])
    if messages:
        return '; '.join(dict.fromkeys(messages[-3:]))
    if any(line.startswith('Traceback') for line in lines):
        return next((line for line in reversed(lines) if line.strip()), '')
    return ''


@dataclass
class NodeProcess:
    """A running node of the stack."""

    launch: NodeLaunch
    process: subprocess.Popen[bytes]
    stderr: OutputTail | None = None

    @property
    def name(self) -> str:
        """The node's fully qualified name."""
        return self.launch.fully_qualified_name

    def reason(self) -> str:
        """Why the node's process exited, as far as its stderr says ('' when it does not)."""
        if self.stderr is None:
            return ''
        self.stderr.join(timeout=2.0)
        return exit_reason(self.stderr.lines())


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
                break
            for node in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.process.pid, signum)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(n.process.poll() is None for n in alive):
                time.sleep(0.05)
        for node in self.nodes:
            if node.stderr is not None:
                node.stderr.join(timeout=1.0)


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
    stderr: IO[str] | None = None,
) -> StackProcesses:
    """Start one process per node of ``plan``; ``resolve`` maps an executable to its path.

    Each child's stderr is relayed to ``stderr`` (default: ours) and its last lines kept, so
    that an exit can be reported with its reason.
    """
    sink = stderr if stderr is not None else sys.stderr
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault('PYTHONUNBUFFERED', '1')  # relayed lines arrive when they are written
    preexec = _parent_death_signal()
    stack = StackProcesses()
    try:
        for launch in plan:
            command = [str(resolve(launch.declaration.executable)), *launch.ros_arguments()]
            # Own session: Ctrl-C reaches the launcher, which stops the nodes in order.
            process = subprocess.Popen(
                command,
                env=child_env,
                start_new_session=True,
                # One system call, prepared in the parent: safe between fork and exec.
                preexec_fn=preexec,
                stderr=subprocess.PIPE,
            )
            assert process.stderr is not None
            stack.nodes.append(NodeProcess(launch, process, OutputTail(process.stderr, sink)))
    except BaseException:
        stack.stop()
        raise
    return stack
