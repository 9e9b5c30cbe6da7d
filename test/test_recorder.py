"""The incident recorder: MCAP files that independent readers decode, rotation, crash safety.

Files are read back three ways: with ``mcap_ros2``'s decoder, with ``rosbags`` (an independent
rosbag2/MCAP implementation that also recomputes the type hashes from the stored definitions),
and with the package's own reader, which must also read a file cut short by SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from builtin_interfaces.msg import Duration, Time
from diagnostic_msgs.msg import KeyValue
from mcap.exceptions import McapError
from mcap.reader import NonSeekingReader, make_reader
from mcap_ros2.decoder import DecoderFactory
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader
from rosbags.rosbag2.metadata import parse_qos
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from muse_supervisor.msg import (
    Evidence,
    ExecutionOutcome,
    Incident,
    IncidentTransition,
    OperatorDecision,
    PlanStep,
    RecoveryPlan,
    RecoveryProposal,
)
from muse_supervisor.recording import (
    IncidentRecorder,
    RecorderError,
    RecordingError,
    read_recording,
)
from muse_supervisor.recording.definitions import full_definition
from muse_supervisor.recording.qos import (
    RELIABLE,
    SENSOR_DATA,
    offered_qos_yaml,
    profile_from_yaml,
)
from muse_supervisor.recording.replay import ReplayError, select

PEER = Path(__file__).parent / 'peers' / 'recorder_peer.py'
REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    """Log times 1 ms apart, so the order in the file is the order of the calls."""

    def __init__(self) -> None:
        self.now = 1_764_000_000_000_000_000

    def __call__(self) -> int:
        self.now += 1_000_000
        return self.now


def _incident(incident_id: str, state: int, frame_ref: str = '') -> Any:
    evidence = Evidence(
        header=Header(stamp=Time(sec=12, nanosec=34), frame_id='camera'),
        source=Evidence.SOURCE_CAMERA,
        signal='image.dark',
        trusted=False,
        untrusted_attributes=['ocr_text'],
        topic='camera/image_raw',
        producer='image_health:1',
        summary='the camera sees nothing',
        confidence=0.75,
        data_ref=frame_ref,
        attributes=[KeyValue(key='ocr_text', value='MOTOR 2 OVERCURRENT')],
    )
    transitions = [
        IncidentTransition(from_state=s, to_state=s + 1, stamp=Time(sec=s), actor='op_7')
        for s in range(state)
    ]
    return Incident(
        header=Header(stamp=Time(sec=100 + state), frame_id='base_link'),
        id=incident_id,
        dedup_key='camera_fault:image.dark@camera/image_raw',
        robot_id='robot_1',
        kind=Incident.KIND_CAMERA_FAULT,
        other_kinds=[Incident.KIND_SENSOR_FAULT],
        severity=Incident.SEVERITY_ERROR,
        state=state,
        acknowledged_by='op_7' if state else '',
        opened=Time(sec=100),
        confidence=0.5,
        summary='camera dark',
        evidence=[evidence],
        suppressed_count=3,
        transitions=transitions,
    )


def _frame() -> Any:
    return Image(
        header=Header(stamp=Time(sec=99), frame_id='camera'),
        height=3,
        width=4,
        encoding='rgb8',
        step=12,
        data=bytes(range(36)),
    )


def _proposal(incident_id: str) -> Any:
    plan = RecoveryPlan(
        id='plan-1',
        incident_id=incident_id,
        steps=[PlanStep(skill=PlanStep.SKILL_WAIT, timeout=Duration(sec=5))],
        tier=RecoveryPlan.TIER_A,
        rationale='wait for the light',
        confidence=0.625,  # exact in float32, so decoded values compare equal
    )
    return RecoveryProposal(incident_id=incident_id, mode=1, plans=[plan], summary='wait')


def _story(recorder: IncidentRecorder, incident_id: str = 'robot_1/0001') -> list[Any]:
    """Record one incident's whole story; returns the messages in the order recorded."""
    frame = _frame()
    ref = recorder.record_evidence_frame(frame, 'camera/image_raw')
    compressed = CompressedImage(format='jpeg', data=b'\xff\xd8\xff\xe0fake-jpeg')
    recorder.record_evidence_frame(compressed, 'camera/image_raw/compressed')
    opened = _incident(incident_id, Incident.STATE_OPEN, ref)
    recorder.record_incident(opened)
    acknowledged = _incident(incident_id, Incident.STATE_ACKNOWLEDGED, ref)
    recorder.record_incident(acknowledged)
    proposal = _proposal(incident_id)
    recorder.record_proposal(proposal)
    decision = OperatorDecision(
        incident_id=incident_id,
        operator_id='op_7',
        plan_id='plan-1',
        plan_digest='ab' * 32,
        decision=OperatorDecision.DECISION_APPROVE,
        reason='looks safe',
        accepted=True,
    )
    recorder.record_decision(decision)
    outcome = ExecutionOutcome(
        incident_id=incident_id, plan_id='plan-1', steps_completed=1, step_count=1
    )
    recorder.record_outcome(outcome)
    resolved = _incident(incident_id, Incident.STATE_RESOLVED, ref)
    recorder.record_incident(resolved)
    return [frame, compressed, opened, acknowledged, proposal, decision, outcome, resolved]


TOPICS = [
    '/robot_1/camera/image_raw',
    '/robot_1/camera/image_raw/compressed',
    '/robot_1/incidents',
    '/robot_1/incidents',
    '/robot_1/recovery_proposals',
    '/robot_1/operator_decisions',
    '/robot_1/execution_outcomes',
    '/robot_1/incidents',
]


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, list[Any]]:
    with IncidentRecorder(tmp_path, namespace='robot_1', clock=FakeClock()) as recorder:
        written = _story(recorder)
    assert len(recorder.files) == 1
    return recorder.files[0], written


def test_own_reader_gives_back_equal_messages_in_order(recorded: tuple[Path, list[Any]]) -> None:
    path, written = recorded
    recording = read_recording(path)
    assert not recording.truncated
    assert [m.topic for m in recording.messages] == TOPICS
    assert recording.metadata['muse_supervisor'] == {'namespace': '/robot_1'}
    for message, original in zip(recording.messages, written, strict=True):
        assert deserialize_message(message.data, type(original)) == original


def test_mcap_ros2_decodes_the_recorded_fields(recorded: tuple[Path, list[Any]]) -> None:
    path, written = recorded
    with path.open('rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == 'ros2'
        decoded = list(reader.iter_decoded_messages())
    assert [channel.topic for _, channel, _, _ in decoded] == TOPICS
    frame = decoded[0][3]
    assert (frame.width, frame.height, frame.encoding) == (4, 3, 'rgb8')
    assert bytes(frame.data) == bytes(range(36))
    assert bytes(decoded[1][3].data) == b'\xff\xd8\xff\xe0fake-jpeg'
    resolved = decoded[7][3]
    assert resolved.id == 'robot_1/0001' and resolved.state == Incident.STATE_RESOLVED
    assert [t.to_state for t in resolved.transitions] == [1, 2, 3, 4, 5]
    evidence = resolved.evidence[0]
    assert evidence.signal == 'image.dark' and evidence.trusted is False
    assert evidence.attributes[0].value == 'MOTOR 2 OVERCURRENT'
    assert evidence.data_ref == f'/robot_1/camera/image_raw@{decoded[0][2].log_time}'
    assert evidence.confidence == pytest.approx(0.75)
    proposal = decoded[4][3]
    assert proposal.plans[0].steps[0].timeout.sec == 5
    assert decoded[5][3].plan_digest == 'ab' * 32 and decoded[5][3].accepted is True
    assert decoded[6][3].steps_completed == 1
    for (schema, _, _, _), original in zip(decoded, written, strict=True):
        module = type(original).__module__.split('.')[0]
        assert schema.name == f'{module}/msg/{type(original).__name__}'
        assert schema.encoding == 'ros2msg'


def test_rosbags_reads_the_file_as_a_rosbag2_recording(recorded: tuple[Path, list[Any]]) -> None:
    path, written = recorded
    with AnyReader([path]) as reader:
        rows = [(c, t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages()]
        # rosbags recomputes each RIHS01 hash from the definition text stored in the file: equal
        # hashes mean the definitions are complete and match the installed interfaces.
        for connection in reader.connections:
            channel_hash = _channel_metadata(path)[connection.topic]['topic_type_hash']
            assert reader.typestore.hash_rihs01(connection.msgtype) == channel_hash
    assert [c.topic for c, _, _ in rows] == TOPICS
    assert rows[0][2].data.tobytes() == bytes(range(36))
    assert rows[0][1] < rows[2][1]  # recorded order kept in the log times
    resolved = rows[7][2]
    assert resolved.id == written[7].id and resolved.state == written[7].state
    assert [t.actor for t in resolved.transitions] == ['op_7'] * 5
    assert resolved.evidence[0].attributes[0].key == 'ocr_text'
    assert resolved.other_kinds.tolist() == [Incident.KIND_SENSOR_FAULT]
    assert rows[4][2].plans[0].rationale == 'wait for the light'
    assert rows[5][2].operator_id == 'op_7'


def _channel_metadata(path: Path) -> dict[str, dict[str, str]]:
    with path.open('rb') as stream:
        summary = make_reader(stream).get_summary()
    assert summary is not None
    return {c.topic: dict(c.metadata) for c in summary.channels.values()}


def test_channels_carry_the_metadata_rosbag2_writes(recorded: tuple[Path, list[Any]]) -> None:
    path, _ = recorded
    metadata = _channel_metadata(path)
    assert set(metadata) == set(TOPICS)
    for topic, entries in metadata.items():
        assert set(entries) == {'offered_qos_profiles', 'topic_type_hash'}, topic
        assert entries['topic_type_hash'].startswith('RIHS01_'), topic
    incidents = parse_qos(metadata['/robot_1/incidents']['offered_qos_profiles'])[0]
    frames = parse_qos(metadata['/robot_1/camera/image_raw']['offered_qos_profiles'])[0]
    assert (incidents.reliability.name, incidents.durability.name) == ('RELIABLE', 'VOLATILE')
    assert incidents.history.name == 'KEEP_LAST' and incidents.depth == 10
    assert frames.reliability.name == 'BEST_EFFORT'
    with AnyReader([path]) as reader:
        qos = {c.topic: c.ext.offered_qos_profiles for c in reader.connections}
    assert qos['/robot_1/operator_decisions'][0].reliability.name == 'RELIABLE'


def test_a_replay_publishes_with_the_qos_that_was_recorded() -> None:
    latched = QoSProfile(
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )
    again = profile_from_yaml(offered_qos_yaml(latched))
    assert (again.depth, again.reliability, again.durability) == (
        1,
        ReliabilityPolicy.RELIABLE,
        DurabilityPolicy.TRANSIENT_LOCAL,
    )
    # rosbag2 before Jazzy wrote the policies as numbers: 2 = best effort, 1 = transient local.
    numbers = offered_qos_yaml(SENSOR_DATA).replace('best_effort', '2')
    assert profile_from_yaml(numbers).reliability == ReliabilityPolicy.BEST_EFFORT
    assert profile_from_yaml('not: [a list', RELIABLE) is RELIABLE


def test_definition_text_is_built_as_rosbag2_does() -> None:
    text = full_definition('muse_supervisor/msg/Incident')
    lines = text.splitlines()
    headers = [line for line in lines if line.startswith('MSG: ')]
    # Depth-first in order of first use, each type once (Time is used three times).
    assert headers == [
        'MSG: std_msgs/Header',
        'MSG: builtin_interfaces/Time',
        'MSG: muse_supervisor/Evidence',
        'MSG: diagnostic_msgs/KeyValue',
        'MSG: muse_supervisor/IncidentTransition',
    ]
    for index, line in enumerate(lines):
        if line.startswith('MSG: '):
            assert lines[index - 1] == '=' * 80
    assert lines[0].startswith('# Something went wrong')


def test_files_rotate_at_the_size_limit(tmp_path: Path) -> None:
    limit = 64 * 1024
    frames = [
        Image(height=100, width=100, encoding='mono8', step=100, data=os.urandom(10_000))
        for _ in range(30)
    ]
    with IncidentRecorder(tmp_path, max_file_size=limit, clock=FakeClock()) as recorder:
        for index, frame in enumerate(frames):
            recorder.record_evidence_frame(frame, 'camera/image_raw')
            if index % 5 == 4:
                recorder.record_incident(_incident(f'i{index}', 0))
    files = recorder.files
    assert len(files) >= 4, files
    assert files == sorted(tmp_path.glob('*.mcap'))  # named by time, in the order written
    seen: list[bytes] = []
    for path in files:
        # Each file is closed with its summary and footer: rosbags opens only complete files.
        with AnyReader([path]) as reader:
            seen += [
                reader.deserialize(raw, c.msgtype).data.tobytes()
                for c, _, raw in reader.messages()
                if c.msgtype == 'sensor_msgs/msg/Image'
            ]
        # Rotation happens before a message would push the finished file past the limit.
        assert path.stat().st_size <= limit, (path, path.stat().st_size)
    assert seen == [bytes(f.data) for f in frames]


def test_a_folder_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / 'not_a_folder'
    blocker.write_text('a file where the folder should be')
    with pytest.raises(RecorderError, match=r'cannot write incident recordings to .*not_a_folder'):
        IncidentRecorder(blocker / 'incidents')
    with pytest.raises(RecorderError, match='is not a folder'):
        IncidentRecorder(blocker)


def test_a_folder_the_system_does_not_let_anyone_write_is_a_clear_error() -> None:
    """Under /sys nobody may create files, root included (CI runs as root: chmod would not do)."""
    with pytest.raises(RecorderError) as refused:
        IncidentRecorder('/sys/muse_supervisor_incidents')
    message = str(refused.value)
    assert message.startswith('cannot write incident recordings to /sys/muse_supervisor_incidents')
    assert 'expected a folder this process can create files in' in message


def test_a_message_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    with IncidentRecorder(tmp_path) as recorder:
        with pytest.raises(RecorderError, match='expected a muse_supervisor/msg/Incident'):
            recorder.record_incident(_frame())
        with pytest.raises(RecorderError, match='evidence frame must be one of'):
            recorder.record_evidence_frame(_incident('x', 0))
        with pytest.raises(RecorderError, match='not a generated ROS message class'):
            recorder.record('notes', 'a plain string')
    with pytest.raises(RecorderError, match='closed'):
        recorder.record_incident(_incident('x', 0))


def test_a_file_that_is_not_mcap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / 'notes.mcap'
    path.write_text('these are not the bytes of an MCAP file')
    with pytest.raises(RecordingError, match='is not an MCAP file'):
        read_recording(path)


def test_a_file_cut_inside_a_record_reads_up_to_the_cut(
    tmp_path: Path, recorded: tuple[Path, list[Any]]
) -> None:
    path, written = recorded
    data = path.read_bytes()
    # Walk the top-level records (opcode, length) to find the chunks (opcode 0x06) of the data
    # section, then cut the last one in half, as a crash during its write would.
    chunks, offset = [], 8
    while data[offset] != 0x0F:  # DataEnd: the data section is over
        length = int.from_bytes(data[offset + 1 : offset + 9], 'little')
        if data[offset] == 0x06:
            chunks.append((offset, length))
        offset += 9 + length
    assert len(chunks) >= 3  # frames + first update, second update, proposal, ...
    start, length = chunks[-1]
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(data[: start + 9 + length // 2])
    partial = read_recording(cut)
    assert partial.truncated and partial.discarded_bytes > 0
    assert len(partial.messages) == len(written) - 1  # the last update was in the cut chunk
    for message, original in zip(partial.messages, written, strict=False):
        assert deserialize_message(message.data, type(original)) == original


def test_sigkill_mid_incident_loses_nothing_already_flushed(tmp_path: Path) -> None:
    """The recorder process is killed while it writes; every update it flushed is in the file."""
    env = {
        **os.environ,
        'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')]),
    }
    # 9 updates: one whole incident (6) and half of the next one, then frames until killed.
    peer = subprocess.Popen(
        [sys.executable, str(PEER), str(tmp_path), '9'],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    flushed: list[tuple[str, int, int]] = []
    try:
        assert peer.stdout is not None
        for line in peer.stdout:
            if line.startswith('frames'):
                break
            _, incident_id, state, count = line.split()
            flushed.append((incident_id, int(state), int(count)))
        time.sleep(0.1)  # frames are being written (and chunks with them) when the kill comes
        os.kill(peer.pid, signal.SIGKILL)
    finally:
        peer.kill()
        _, errors = peer.communicate(timeout=30)
    assert peer.returncode == -signal.SIGKILL, errors
    assert len(flushed) == 9, errors
    files = sorted(tmp_path.glob('*.mcap'))
    assert len(files) == 1
    recording = read_recording(files[0])
    assert recording.truncated  # killed: no summary, no footer
    found = [
        (i.id, i.state, len(i.transitions))
        for i in (
            deserialize_message(m.data, Incident)
            for m in recording.messages
            if m.type_name == 'muse_supervisor/msg/Incident'
        )
    ]
    assert found == flushed  # every flushed update, in order; the in-flight incident included
    assert found[-1] == ('crash/0002', 2, 2)
    frames = [m for m in recording.messages if m.topic == '/crash_robot/camera/image_raw']
    # Frames written after the last flush are there too, as far as the writer wrote chunks.
    assert len(frames) >= 3 * 9 + 5

    # mcap's own reader reads such a file in order too (without a summary it cannot seek): it
    # yields every whole record, then fails at the cut, as docs/RECORDING.md says.
    decoded = []
    with files[0].open('rb') as stream:
        reader = NonSeekingReader(stream, decoder_factories=[DecoderFactory()])
        with pytest.raises(McapError):
            for _, channel, _, message in reader.iter_decoded_messages(log_time_order=False):
                if channel.topic == '/crash_robot/incidents':
                    decoded.append((message.id, message.state, len(message.transitions)))
    assert decoded == flushed


def test_replay_selects_one_incident_with_its_frames_and_proposals(tmp_path: Path) -> None:
    clock = FakeClock()
    with IncidentRecorder(tmp_path, namespace='robot_1', clock=clock) as recorder:
        _story(recorder, 'robot_1/0001')
        _story(recorder, 'robot_1/0002')
    recording = read_recording(recorder.files[0])
    chosen = select(recording, 'robot_1/0002')
    assert [m.topic for m in chosen] == TOPICS  # its frames, updates, proposal, decision, outcome
    assert all(m in recording.messages[len(TOPICS) :] for m in chosen)
    assert len(select(recording, None)) == 2 * len(TOPICS)
    with pytest.raises(ReplayError, match=r"no incident 'nope'.*robot_1/0001, robot_1/0002"):
        select(recording, 'nope')


def test_replay_refuses_a_recording_without_incidents(tmp_path: Path) -> None:
    with IncidentRecorder(tmp_path) as recorder:
        recorder.record_evidence_frame(_frame(), 'camera/image_raw')
    with pytest.raises(ReplayError, match=r'holds no incidents.*/camera/image_raw'):
        select(read_recording(recorder.files[0]), None)
