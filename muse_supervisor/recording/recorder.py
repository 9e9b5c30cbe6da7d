"""The incident recorder: incidents, evidence frames, proposals, decisions and outcomes to MCAP.

Every incident is written as ROS 2 messages (CDR bytes from ``rclpy.serialization``) into MCAP
files that rosbag2 tools and Foxglove open as recordings: profile ``ros2``, schemas
``pkg/msg/Name`` (``ros2msg``, the full definition text), channels in ``cdr`` with the
``offered_qos_profiles`` and ``topic_type_hash`` metadata rosbag2 writes.

Nothing already flushed is lost: the MCAP writer keeps messages in an in-memory chunk until the
chunk is full; :meth:`IncidentRecorder.flush` ends the chunk, writes it and fsyncs the file,
and every incident update (each lifecycle transition), proposal, decision and outcome is flushed
as it is recorded. A process killed at any moment leaves a file without a footer whose flushed
chunks are intact; :func:`muse_supervisor.recording.reader.read_recording` reads such a file back
in order (docs/RECORDING.md).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from mcap.writer import CompressionType, Writer
from rclpy.qos import QoSProfile
from rclpy.serialization import serialize_message

from muse_supervisor.recording.definitions import (
    DefinitionError,
    full_definition,
    share_prefixes,
    type_hash,
    type_name_of,
)
from muse_supervisor.recording.qos import RELIABLE, SENSOR_DATA, offered_qos_yaml

PROFILE = 'ros2'
LIBRARY = 'muse_supervisor incident recorder'
# Name of the MCAP metadata record that says which robot namespace the topics belong to.
METADATA_NAME = 'muse_supervisor'
INCIDENTS_TOPIC = 'incidents'
PROPOSALS_TOPIC = 'recovery_proposals'
DECISIONS_TOPIC = 'operator_decisions'
OUTCOMES_TOPIC = 'execution_outcomes'
ACTIONS_TOPIC = 'operator_actions'
FRAMES_TOPIC = 'incident_frames'
DEFAULT_MAX_FILE_SIZE = 256 * 1024 * 1024
MIN_FILE_SIZE = 4096
# Uncompressed bytes buffered before the writer ends a chunk on its own (between flushes).
CHUNK_SIZE = 1024 * 1024
_FRAME_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')


class RecorderError(RuntimeError):
    """The recorder cannot do what was asked: a folder it cannot write, a closed recorder, ..."""


def _type_name(message: object) -> str:
    try:
        return type_name_of(message)
    except DefinitionError as error:
        raise RecorderError(f'cannot record {type(message).__name__}: {error}') from error


def resolve_topic(topic: str, namespace: str) -> str:
    """The absolute topic name rosbag2 would record: relative names go under ``namespace``."""
    if not topic or topic.strip('/') == '' or ' ' in topic:
        raise RecorderError(f'topic name {topic!r} is not valid (expected e.g. "incidents")')
    if topic.startswith('/'):
        return topic
    ns = '/' + namespace.strip('/') if namespace.strip('/') else ''
    return f'{ns}/{topic}'


def frame_reference(topic: str, log_time: int) -> str:
    """What :meth:`IncidentRecorder.record_evidence_frame` returns: ``<topic>@<log time ns>``.

    Put it in ``Evidence.data_ref`` so the incident cites its frame, and a replay of the incident
    finds it.
    """
    return f'{topic}@{log_time}'


def file_name(prefix: str, time_ns: int) -> str:
    """``<prefix>_<UTC time, to the microsecond>.mcap``: names sort in the order of opening."""
    stamp = datetime.fromtimestamp(time_ns / 1e9, tz=timezone.utc)
    return f'{prefix}_{stamp.strftime("%Y%m%dT%H%M%S.%f")}Z.mcap'


@dataclass
class _Channel:
    id: int
    type_name: str


# Upper bounds on what the writer adds around the bytes it is given, for the rotation estimate:
# per message (record header, index entry), per chunk (chunk and index records, chunk index in
# the summary), per schema or channel (record headers; repeated in the summary), and the fixed
# part of the summary (statistics, offsets, footer).
_PER_MESSAGE = 64
_PER_CHUNK = 256
_PER_RECORD = 64
_SUMMARY = 1024


class _File:
    """One open MCAP file: its writer, its channels, and an upper bound on its size."""

    def __init__(self, path: Path, stream: IO[bytes], chunk_size: int) -> None:
        self.path = path
        self.stream = stream
        self.writer = Writer(stream, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self.schemas: dict[str, int] = {}
        self.channels: dict[str, _Channel] = {}
        self.messages = 0
        self.unchunked = 0  # bytes given to the chunk in progress (uncompressed)
        self.summary = _SUMMARY  # bytes the summary section and footer will take
        self.position = 0  # stream position when `unchunked` was last reset

    def added(self, size: int, *, repeated: bool = False) -> None:
        """Count ``size`` bytes given to the chunk in progress (and repeated in the summary)."""
        self.estimated_size()
        self.unchunked += size + _PER_RECORD
        if repeated:
            self.summary += size + _PER_RECORD

    def estimated_size(self) -> int:
        """The file's size if it were finished now: an upper bound (chunks count uncompressed)."""
        position = self.stream.tell()
        if position != self.position:  # a chunk was written (by a flush or the writer itself)
            self.position = position
            self.unchunked = 0
            self.summary += _PER_CHUNK
        return position + self.unchunked + _PER_CHUNK + self.summary


class IncidentRecorder:
    """Writes an incident's whole story to MCAP files under ``folder``, rotated by size.

    Plain methods take ROS messages and topic names, so the perception and HMI nodes call them
    from their callbacks (thread-safe: one lock). ``clock`` gives the log time in nanoseconds
    (rosbag2 records the receive time; a node passes its own clock so sim time works).

    Args:
        folder: where the files go; created if missing. An error says why it cannot be written.
        max_file_size: bytes after which a file is closed (footer, summary) and the next opened;
            a single message larger than this gets a file of its own.
        namespace: the robot namespace relative topic names are resolved in, also written to each
            file's ``muse_supervisor`` metadata record so a replay knows it.
        prefix: file names are ``<prefix>_<UTC time>.mcap``.
        clock: log time source, nanoseconds since the epoch (default: the wall clock).
        chunk_size: uncompressed bytes after which the writer ends a chunk between flushes.
        prefixes: install prefixes to find the ``.msg`` files in (default: the ament prefixes).

    """

    def __init__(
        self,
        folder: str | Path,
        *,
        max_file_size: int = DEFAULT_MAX_FILE_SIZE,
        namespace: str = '',
        prefix: str = 'incidents',
        clock: Callable[[], int] = time.time_ns,
        chunk_size: int = CHUNK_SIZE,
        prefixes: list[Path] | None = None,
    ) -> None:
        if max_file_size < MIN_FILE_SIZE:
            raise RecorderError(
                f'max_file_size {max_file_size} is too small: expected at least {MIN_FILE_SIZE} '
                'bytes (a file holds its header, schemas and summary too)'
            )
        if not prefix or '/' in prefix or prefix.startswith('.'):
            raise RecorderError(f'file prefix {prefix!r} must be a plain file name part')
        self.folder = Path(folder)
        self.max_file_size = max_file_size
        self.namespace = '/' + namespace.strip('/') if namespace.strip('/') else '/'
        self._prefix = prefix
        self._clock = clock
        self._chunk_size = chunk_size
        self._prefixes = prefixes if prefixes is not None else share_prefixes()
        self._lock = threading.Lock()
        self._file: _File | None = None
        self._closed = False
        self.files: list[Path] = []
        self._check_folder()

    # -- what the nodes call ------------------------------------------------------------------

    def record_incident(
        self, incident: Any, topic: str = INCIDENTS_TOPIC, *, qos: QoSProfile = RELIABLE
    ) -> None:
        """Record one update of an incident (``muse_supervisor/msg/Incident``) and flush.

        Each lifecycle transition is published as an update: flushing here is what makes a crash
        lose at most the incident in flight, never one already recorded.
        """
        self._record(topic, incident, qos, 'muse_supervisor/msg/Incident', flush=True)

    def record_evidence_frame(
        self, frame: Any, topic: str = FRAMES_TOPIC, *, qos: QoSProfile = SENSOR_DATA
    ) -> str:
        """Record a key frame (``sensor_msgs/Image`` or ``CompressedImage``) behind an incident.

        Returns the reference to put in the citing ``Evidence.data_ref`` (:func:`frame_reference`).
        Not flushed on its own (frames are large and come before the incident update that cites
        them): the next incident update flushes it, or the chunk fills up.
        """
        name = _type_name(frame)
        if name not in _FRAME_TYPES:
            raise RecorderError(f'an evidence frame must be one of {_FRAME_TYPES}, got {name}')
        return frame_reference(*self._record(topic, frame, qos, name, flush=False))

    def record_proposal(
        self, proposal: Any, topic: str = PROPOSALS_TOPIC, *, qos: QoSProfile = RELIABLE
    ) -> None:
        """Record the reasoner's ``RecoveryProposal`` for an incident, and flush."""
        self._record(topic, proposal, qos, 'muse_supervisor/msg/RecoveryProposal', flush=True)

    def record_decision(
        self, decision: Any, topic: str = DECISIONS_TOPIC, *, qos: QoSProfile = RELIABLE
    ) -> None:
        """Record an operator's ``OperatorDecision`` on a plan, and flush."""
        self._record(topic, decision, qos, 'muse_supervisor/msg/OperatorDecision', flush=True)

    def record_outcome(
        self, outcome: Any, topic: str = OUTCOMES_TOPIC, *, qos: QoSProfile = RELIABLE
    ) -> None:
        """Record how a plan's execution ended (``ExecutionOutcome``), and flush."""
        self._record(topic, outcome, qos, 'muse_supervisor/msg/ExecutionOutcome', flush=True)

    def record_action(
        self, action: Any, topic: str = ACTIONS_TOPIC, *, qos: QoSProfile = RELIABLE
    ) -> None:
        """Record one entry of the HMI's audit trail (``OperatorAction``), and flush."""
        self._record(topic, action, qos, 'muse_supervisor/msg/OperatorAction', flush=True)

    def record(
        self, topic: str, message: Any, *, qos: QoSProfile = RELIABLE, flush: bool = False
    ) -> None:
        """Record any other ROS message (alarms, mission state, log lines) on ``topic``."""
        self._record(topic, message, qos, _type_name(message), flush=flush)

    def flush(self) -> None:
        """Make everything recorded so far durable: end the chunk, write it, ``fsync``."""
        with self._lock:
            self._check_open()
            if self._file is not None:
                self._flush(self._file)

    def close(self) -> None:
        """Finish the current file (summary and footer) and stop; later records are errors."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._file is not None:
                self._finish(self._file)
                self._file = None

    @property
    def path(self) -> Path | None:
        """The file being written now (None before the first record and after close)."""
        return self._file.path if self._file is not None else None

    def __enter__(self) -> IncidentRecorder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # -- inside -------------------------------------------------------------------------------

    def _record(
        self, topic: str, message: Any, qos: QoSProfile, expected: str, *, flush: bool
    ) -> tuple[str, int]:
        """Write one message; returns the absolute topic and the log time it was recorded at."""
        name = _type_name(message)
        if name != expected:
            raise RecorderError(f'expected a {expected} message for {topic!r}, got {name}')
        absolute = resolve_topic(topic, self.namespace)
        data = serialize_message(message)
        with self._lock:
            self._check_open()
            log_time = int(self._clock())  # under the lock: log times rise in file order
            current = self._file
            if (
                current is not None
                and current.messages
                and (
                    current.estimated_size() + self._new_bytes(current, absolute, name, data)
                    > self.max_file_size
                )
            ):
                self._finish(current)
                current = self._file = None
            if current is None:
                current = self._file = self._open(log_time)
            channel = self._channel(current, absolute, name, qos)
            try:
                current.writer.add_message(channel, log_time, data, log_time)
            except OSError as error:
                raise self._write_error(current.path, error) from error
            current.messages += 1
            current.added(len(data) + _PER_MESSAGE)
            if flush:
                self._flush(current)
        return absolute, log_time

    def _channel(self, current: _File, topic: str, name: str, qos: QoSProfile) -> int:
        known = current.channels.get(topic)
        if known is not None:
            if known.type_name != name:
                raise RecorderError(
                    f'topic {topic} was recorded as {known.type_name}; a {name} cannot share it'
                )
            return known.id
        try:
            schema = current.schemas.get(name)
            if schema is None:
                text = full_definition(name, self._prefixes).encode()
                schema = current.writer.register_schema(name, 'ros2msg', text)
                current.schemas[name] = schema
                current.added(len(name) + len(text), repeated=True)
            metadata = {
                'offered_qos_profiles': offered_qos_yaml(qos),
                'topic_type_hash': type_hash(name, self._prefixes),
            }
        except DefinitionError as error:
            raise RecorderError(f'cannot record {topic} ({name}): {error}') from error
        channel = current.writer.register_channel(topic, 'cdr', schema, metadata)
        current.channels[topic] = _Channel(channel, name)
        current.added(
            len(topic) + sum(len(k) + len(v) for k, v in metadata.items()), repeated=True
        )
        return channel

    def _new_bytes(self, current: _File, topic: str, name: str, data: bytes) -> int:
        """Bytes a message adds to ``current``: itself, and its schema and channel if new."""
        size = len(data) + _PER_MESSAGE + _PER_RECORD
        if topic not in current.channels:
            size += 2 * (len(topic) + 512 + 2 * _PER_RECORD)  # channel and its QoS metadata
            if name not in current.schemas:
                size += 2 * (len(full_definition(name, self._prefixes)) + _PER_RECORD)
        return size

    def _check_folder(self) -> None:
        if self.folder.exists() and not self.folder.is_dir():
            raise RecorderError(
                f'incident recording folder {self.folder} is not a folder: expected a folder '
                'this process can create files in'
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise self._write_error(self.folder, error) from error
        if not os.access(self.folder, os.W_OK | os.X_OK):
            raise RecorderError(
                f'cannot write incident recordings to {self.folder}: permission denied; expected '
                'a folder this process can create files in (choose another one or fix its mode)'
            )

    def _write_error(self, path: Path, error: OSError) -> RecorderError:
        return RecorderError(
            f'cannot write incident recordings to {path}: {error.strerror or error}; expected a '
            f'folder this process can create files in, with free space (folder: {self.folder})'
        )

    def _open(self, time_ns: int) -> _File:
        self._check_folder()
        base = file_name(self._prefix, time_ns)
        for attempt in range(1000):
            path = self.folder / (
                base if not attempt else base.replace('.mcap', f'_{attempt}.mcap')
            )
            try:
                stream = open(path, 'xb')  # noqa: SIM115 (closed in _finish)
            except FileExistsError:
                continue
            except OSError as error:
                raise self._write_error(path, error) from error
            break
        else:
            raise RecorderError(f'no free file name like {base} in {self.folder}')
        opened = _File(path, stream, self._chunk_size)
        try:
            opened.writer.start(profile=PROFILE, library=LIBRARY)
            opened.writer.add_metadata(METADATA_NAME, {'namespace': self.namespace})
            self._flush(opened)
            # The new file's name must survive a crash too: sync the folder entry.
            folder = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as error:
            stream.close()
            raise self._write_error(path, error) from error
        self.files.append(path)
        return opened

    def _flush(self, current: _File) -> None:
        try:
            current.writer.flush()
            os.fsync(current.stream.fileno())
        except OSError as error:
            raise self._write_error(current.path, error) from error
        current.estimated_size()  # counts the chunk just written

    def _finish(self, current: _File) -> None:
        try:
            current.writer.finish()
            current.stream.flush()
            os.fsync(current.stream.fileno())
        except OSError as error:
            raise self._write_error(current.path, error) from error
        finally:
            current.stream.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RecorderError('the incident recorder is closed: open a new IncidentRecorder')
