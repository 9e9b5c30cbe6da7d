"""Helper processes and shared plumbing of ``perception_ingest.py`` and ``alarm_latency.py``.

Roles (each started as ``python bench/_ingest_roles.py ROLE ...``, a ROS participant of its own):

- ``camera``: publishes frames at a fixed rate, ``sensor_msgs/Image`` (rgb8) or
  ``sensor_msgs/CompressedImage`` (jpeg), stamped with the wall clock at send;
- ``bare``: a plain rclpy node that subscribes to the same topic with the same QoS as the
  perception node (sensor data) and only records, per frame, its stamp and the receive time;
- ``echo``: republishes every ``Alarm`` and ``DiagnosticArray`` it receives on other topics, at
  once (the transport baseline of the alarm benchmark).

Each role writes what it recorded to a JSON file about once a second (atomic replace), so the
bench reads it while the process runs. :func:`install_probe` is the receive-time probe put into
the perception node's process by ``sitecustomize`` (see ``perception_ingest.py``): it wraps the
node's two camera callbacks without changing them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DUMP_PERIOD = 1.0  # s between two writes of a role's record file


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` to ``path`` atomically (readers never see half a file)."""
    temporary = path.with_name(path.name + '.tmp')
    temporary.write_text(json.dumps(data))
    temporary.replace(path)


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None while it does not exist (or is being replaced)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# ----- processes -----------------------------------------------------------------------------
class Processes:
    """Child processes, each in a process group of its own; every one is stopped in the end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> int:
        """Start ``argv`` (output to ``<log_dir>/<name>.log``); return its pid."""
        with open(self.log_dir / f'{name}.log', 'wb') as log:
            process = subprocess.Popen(
                list(argv),
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.running[name] = process
        return process.pid

    def alive(self, name: str) -> bool:
        """Whether the process is still running."""
        process = self.running.get(name)
        return process is not None and process.poll() is None

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines the process wrote."""
        path = self.log_dir / f'{name}.log'
        text = path.read_text(errors='replace') if path.exists() else ''
        return '\n'.join(text.splitlines()[-lines:])

    def cpu_seconds(self, name: str) -> float:
        """User + system CPU seconds of the process and its children alive now, so far.

        The children count: the perception node runs its analyzers in a process of its own.
        """
        process = self.running.get(name)
        if process is None:
            return math.nan
        total, pids = 0.0, [process.pid]
        while pids:
            pid = pids.pop()
            try:
                fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
            except OSError:
                if pid == process.pid:
                    return math.nan
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
            pids += _children(pid)
        return total

    def stop(self, name: str) -> None:
        """SIGINT the process group, then SIGTERM, then SIGKILL, until it has exited."""
        process = self.running.pop(name, None)
        if process is None:
            return
        for sig, wait in ((signal.SIGINT, 5.0), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)  # anything left in its group

    def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        for name in reversed(list(self.running)):
            self.stop(name)


def role_argv(role: str, **options: str) -> list[str]:
    """Command line of one of this file's roles."""
    argv = [sys.executable, str(Path(__file__).resolve()), role]
    for key, value in options.items():
        argv += [f'--{key.replace("_", "-")}', value]
    return argv


def ros_env(domain_id: int, log_dir: Path, large_data: bool) -> dict[str, str]:
    """The environment of every ROS process of one case (own domain, this host only)."""
    env = dict(os.environ)
    env['ROS_DOMAIN_ID'] = str(domain_id)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_LOG_DIR'] = str(log_dir / 'ros')
    env.setdefault('AMENT_PREFIX_PATH', sys.prefix)
    env.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    if large_data:
        env['FASTDDS_BUILTIN_TRANSPORTS'] = 'LARGE_DATA'
    return env


def make_sitecustomize(folder: Path) -> Path:
    """A folder whose ``sitecustomize`` installs :func:`install_probe` when asked (env var)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / 'sitecustomize.py').write_text(
        'import os, sys\n'
        "if os.environ.get('MUSE_INGEST_PROBE'):\n"
        f'    sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n'
        '    import _ingest_roles\n'
        "    _ingest_roles.install_probe(os.environ['MUSE_INGEST_PROBE'])\n"
    )
    return folder


def _children(pid: int) -> list[int]:
    """The ids of the live child processes of ``pid`` (from every thread's ``children``)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f'/proc/{pid}/task').iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / 'children').read_text().split()]
    return found


# ----- the probe in the perception node's process --------------------------------------------
def install_probe(path: str) -> None:
    """Record (stamp, entry time, exit time) of each camera callback of the perception node.

    Wraps ``PerceptionNode._on_image`` and ``_on_compressed`` (the node's code is untouched and
    runs as it would); a thread writes the records, the hand-over counts and the analyzer
    workers' statistics (``AnalysisProcess.stats()``) to ``path`` once a second. Cost per
    frame: two clock reads and one list append.
    """
    from dataclasses import asdict

    from muse_supervisor.nodes import perception_node

    node_type = perception_node.PerceptionNode
    records: list[tuple[float, float, float]] = []
    nodes: list[Any] = []
    original_init = node_type.__init__

    def init(self: Any, **kwargs: Any) -> None:
        original_init(self, **kwargs)
        nodes.append(self)

    node_type.__init__ = init  # type: ignore[method-assign]

    def wrap(original: Any) -> Any:
        def callback(self: Any, msg: Any) -> None:
            entered = time.time()
            original(self, msg)
            stamp = msg.header.stamp
            records.append((stamp.sec + stamp.nanosec * 1e-9, entered, time.time()))

        return callback

    for name in ('_on_image', '_on_compressed'):
        setattr(node_type, name, wrap(getattr(node_type, name)))

    def dump() -> None:
        out = Path(path)
        while True:
            time.sleep(DUMP_PERIOD)
            if not nodes:  # not the node's process (its analysis child imports this too)
                continue
            stats: list[dict[str, Any]] = []
            handover: dict[str, Any] = {}
            analysis = nodes[0]._analysis if nodes else None
            if analysis is not None:
                counts = analysis.stats()
                stats = [asdict(s) for s in counts.workers]
                handover = {k: v for k, v in asdict(counts).items() if k != 'workers'}
            record = {'time': time.time(), 'frames': list(records), 'stats': stats}
            with contextlib.suppress(OSError):
                write_json(out, {**record, 'handover': handover})

    threading.Thread(target=dump, name='ingest probe', daemon=True).start()


# ----- roles ---------------------------------------------------------------------------------
def _init_ros(name: str) -> Any:
    import rclpy

    rclpy.init(args=['--ros-args', '--disable-external-lib-logs'])
    return rclpy, rclpy.create_node(name)


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _frames(width: int, height: int, compressed: bool, count: int) -> list[Any]:
    """``count`` different drawn scenes (cluttered shelves), as messages without a stamp."""
    import cv2
    from sensor_msgs.msg import CompressedImage, Image

    from muse_supervisor.perception.vision.synthetic import cluttered_scene

    messages: list[Any] = []
    for seed in range(count):
        bgr = cluttered_scene(height, width, seed=seed)
        if compressed:
            ok, jpeg = cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 80])
            assert ok
            msg: Any = CompressedImage(format='jpeg', data=jpeg.tobytes())
        else:
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            msg = Image(height=height, width=width, encoding='rgb8', step=width * 3)
            msg.data = rgb.tobytes()
        msg.header.frame_id = 'camera'
        messages.append(msg)
    return messages


def camera_main(args: argparse.Namespace) -> int:
    """Publish frames at ``--rate`` Hz on ``--topic``, each stamped at send; record the stamps."""
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    stop = _stop_event()
    rclpy, node = _init_ros('bench_camera')
    messages = _frames(args.width, args.height, args.compressed, 16)
    kind = CompressedImage if args.compressed else Image
    publisher = node.create_publisher(kind, args.topic, qos_profile_sensor_data)
    sizes = sorted({len(m.data) for m in messages})
    out = Path(args.record)
    sent: list[float] = []
    period = 1.0 / args.rate
    deadline = time.perf_counter()
    last_dump = 0.0
    index = 0
    while not stop.is_set():
        now = time.perf_counter()
        if now < deadline:
            time.sleep(deadline - now)
        deadline = max(deadline + period, time.perf_counter() - period)  # no catch-up bursts
        msg = messages[index % len(messages)]
        index += 1
        stamp = time.time()
        msg.header.stamp.sec = int(stamp)
        msg.header.stamp.nanosec = int((stamp - int(stamp)) * 1e9)
        publisher.publish(msg)
        sent.append(int(stamp) + int((stamp - int(stamp)) * 1e9) * 1e-9)
        if now - last_dump > DUMP_PERIOD:
            write_json(out, {'time': time.time(), 'sent': sent, 'bytes': sizes})
            last_dump = now
    write_json(out, {'time': time.time(), 'sent': sent, 'bytes': sizes})
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def bare_main(args: argparse.Namespace) -> int:
    """Subscribe like the perception node (sensor data QoS); record (stamp, receive time)."""
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage, Image

    stop = _stop_event()
    rclpy, node = _init_ros('bench_bare')
    records: list[tuple[float, float]] = []

    def receive(msg: Any) -> None:
        received = time.time()
        stamp = msg.header.stamp
        records.append((stamp.sec + stamp.nanosec * 1e-9, received))

    kind = CompressedImage if args.compressed else Image
    node.create_subscription(kind, args.topic, receive, qos_profile_sensor_data)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    out = Path(args.record)
    last_dump = 0.0
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.1)
        now = time.perf_counter()
        if now - last_dump > DUMP_PERIOD:
            write_json(out, {'time': time.time(), 'frames': records})
            last_dump = now
    write_json(out, {'time': time.time(), 'frames': records})
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def echo_main(args: argparse.Namespace) -> int:
    """Republish each Alarm and DiagnosticArray at once (the node's input QoS: reliable)."""
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    from muse_supervisor.msg import Alarm

    stop = _stop_event()
    rclpy, node = _init_ros('bench_echo')
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    for kind, source, target in (
        (Alarm, args.alarms, args.alarms_out),
        (DiagnosticArray, args.diagnostics, args.diagnostics_out),
    ):
        publisher = node.create_publisher(kind, target, reliable)
        node.create_subscription(kind, source, publisher.publish, reliable)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.1)
    executor.shutdown()
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one role."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('role', choices=['camera', 'bare', 'echo'])
    parser.add_argument('--topic', default='/bench/camera/image')
    parser.add_argument('--record', default='record.json')
    parser.add_argument('--width', type=int, default=640)
    parser.add_argument('--height', type=int, default=480)
    parser.add_argument('--compressed', action='store_true')
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--alarms', default='/alarms')
    parser.add_argument('--alarms-out', default='/bench_echo/alarms')
    parser.add_argument('--diagnostics', default='/diagnostics')
    parser.add_argument('--diagnostics-out', default='/bench_echo/diagnostics')
    args = parser.parse_args(argv)
    return {'camera': camera_main, 'bare': bare_main, 'echo': echo_main}[args.role](args)


if __name__ == '__main__':
    sys.exit(main())
