"""``muse-supervisor replay`` over real ROS: a recorded incident arrives again, as if live.

The recording is made here with the recorder; the installed ``muse-supervisor replay`` runs as
its own process and a subscriber in this test (its own rclpy context) receives what it publishes.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from builtin_interfaces.msg import Time
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from muse_supervisor.msg import Evidence, Incident, IncidentTransition, RecoveryProposal
from muse_supervisor.recording import IncidentRecorder

pytestmark = [pytest.mark.ros, pytest.mark.slow]

CLI = Path(sys.prefix) / 'bin' / 'muse-supervisor'


class Clock:
    """Log times 20 ms apart: a replay at --rate 4 takes 5 ms between messages."""

    def __init__(self) -> None:
        self.now = 1_764_000_000_000_000_000

    def __call__(self) -> int:
        self.now += 20_000_000
        return self.now


def _update(incident_id: str, state: int, ref: str) -> Any:
    return Incident(
        id=incident_id,
        robot_id='robot_9',
        kind=Incident.KIND_PATH_BLOCKED,
        state=state,
        summary=f'{incident_id} in state {state}',
        evidence=[Evidence(signal='corridor.blocked', data_ref=ref)],
        transitions=[
            IncidentTransition(from_state=s, to_state=s + 1, stamp=Time(sec=s), actor='op')
            for s in range(state)
        ],
    )


def _record(folder: Path) -> tuple[Path, list[Any]]:
    """Two incidents, each with a key frame and a proposal; returns the file and incident a's."""
    with IncidentRecorder(folder, namespace='robot_9', clock=Clock()) as recorder:
        written = []
        for incident_id in ('robot_9/a', 'robot_9/b'):
            frame = Image(height=2, width=2, encoding='mono8', step=2, data=b'\x01\x02\x03\x04')
            ref = recorder.record_evidence_frame(frame, 'camera/image_raw')
            for state in (Incident.STATE_OPEN, Incident.STATE_ACKNOWLEDGED):
                update = _update(incident_id, state, ref)
                recorder.record_incident(update)
                if incident_id == 'robot_9/a':
                    written.append(update)
            recorder.record_proposal(RecoveryProposal(incident_id=incident_id, summary='wait'))
            last = _update(incident_id, Incident.STATE_PROPOSED, ref)
            recorder.record_incident(last)
            if incident_id == 'robot_9/a':
                written.append(last)
    return recorder.files[0], written


class Listener:
    """Subscribes, in its own context, to what a reasoner in ``namespace`` would receive."""

    def __init__(self, context: Any, namespace: str) -> None:
        import rclpy

        self.node = rclpy.create_node('replay_listener', namespace=namespace, context=context)
        self.incidents: list[Any] = []
        self.proposals: list[Any] = []
        self.frames: list[Any] = []
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        best_effort = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(Incident, 'incidents', self.incidents.append, reliable)
        self.node.create_subscription(
            RecoveryProposal, 'recovery_proposals', self.proposals.append, reliable
        )
        self.node.create_subscription(Image, 'camera/image_raw', self.frames.append, best_effort)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()


def _replay(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), 'replay', *args], capture_output=True, text=True, timeout=90, check=False
    )


def test_a_replayed_incident_reaches_a_subscriber_as_recorded(
    tmp_path: Path, ros_context: Any
) -> None:
    path, written = _record(tmp_path)
    listener = Listener(ros_context, 'replay_robot')
    try:
        result = _replay(
            str(path), '--namespace', 'replay_robot', '--incident', 'robot_9/a', '--rate', '4'
        )
        deadline = time.monotonic() + 5
        while len(listener.incidents) < len(written) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert listener.incidents == written  # the same messages, field for field, in order
    assert [p.incident_id for p in listener.proposals] == ['robot_9/a']  # not b's
    # Progress on stderr, one line per message (1 frame, 3 updates, 1 proposal), moved into the
    # namespace the replay was given.
    progress = [line for line in result.stderr.splitlines() if line.startswith('replay: ')]
    last = 'replay: 5/5 /replay_robot/incidents: incident robot_9/a proposed'
    assert last in progress, progress
    assert 'published 5 messages' in result.stderr


def test_a_truncated_recording_replays_what_was_flushed(tmp_path: Path, ros_context: Any) -> None:
    path, _ = _record(tmp_path)
    data = path.read_bytes()
    offset = 8  # after the magic: walk the records (opcode, length) up to DataEnd (0x0f)
    while data[offset] != 0x0F:
        offset += 9 + int.from_bytes(data[offset + 1 : offset + 9], 'little')
    cut = tmp_path / 'crashed.mcap'
    cut.write_bytes(data[:offset])  # every chunk, then no DataEnd, no summary, no footer
    listener = Listener(ros_context, 'robot_9')
    try:
        result = _replay(str(cut), '--rate', '4')  # the recorded namespace: /robot_9
        deadline = time.monotonic() + 5
        while len(listener.incidents) < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert 'ends without a footer' in result.stderr
    assert [(i.id, i.state) for i in listener.incidents] == [
        ('robot_9/a', 0),
        ('robot_9/a', 1),
        ('robot_9/a', 2),
        ('robot_9/b', 0),
        ('robot_9/b', 1),
        ('robot_9/b', 2),
    ]
    assert [p.incident_id for p in listener.proposals] == ['robot_9/a', 'robot_9/b']


def test_replay_refuses_what_it_cannot_replay(tmp_path: Path) -> None:
    text = tmp_path / 'notes.mcap'
    text.write_text('not an mcap file')
    result = _replay(str(text))
    assert result.returncode == 2
    assert 'is not an MCAP file' in result.stderr
    with IncidentRecorder(tmp_path / 'frames_only') as recorder:
        recorder.record_evidence_frame(Image(height=1, width=1, encoding='mono8', step=1))
    result = _replay(str(recorder.files[0]))
    assert result.returncode == 2
    assert 'holds no incidents' in result.stderr
    path, _ = _record(tmp_path / 'two')
    result = _replay(str(path), '--incident', 'robot_9/zzz', '--wait-for-subscriber', '0')
    assert result.returncode == 2
    assert "no incident 'robot_9/zzz'" in result.stderr and 'robot_9/a, robot_9/b' in result.stderr
