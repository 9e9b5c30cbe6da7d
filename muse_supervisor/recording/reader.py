"""Reading incident recordings back, including files cut short by a crash (no footer).

A recorder killed mid-incident leaves a file that ends after its last flushed chunk, or inside a
record that was being written: there is no summary section and no footer, so readers that start
from the footer (``mcap.reader.SeekingReader``, ``rosbags``) refuse it. The data section is still
a plain sequence of records, so this reader walks it from the start: each record's length is
checked against what is left of the file before the record is parsed (with ``mcap``'s own record
parsers), and a record cut short ends the reading cleanly, marked ``truncated``.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mcap.exceptions import McapError
from mcap.opcode import Opcode
from mcap.records import Channel, Chunk, DataEnd, Footer, McapRecord, Message, Metadata, Schema
from mcap.stream_reader import MAGIC_SIZE, StreamReader, breakup_chunk

MCAP_MAGIC = b'\x89MCAP0\r\n'


class RecordingError(ValueError):
    """A file that is not an MCAP recording, or one whose content cannot be read."""


@dataclass(frozen=True)
class RecordedMessage:
    """One recorded message: its topic, ROS type, log time (ns) and CDR bytes."""

    topic: str
    type_name: str
    log_time: int
    data: bytes
    offered_qos_profiles: str = ''


@dataclass
class Recording:
    """What a file holds, in recorded order, and whether it ended without a footer."""

    path: Path
    messages: list[RecordedMessage] = field(default_factory=list)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    truncated: bool = False
    # Bytes at the end of a truncated file that belong to a record cut short.
    discarded_bytes: int = 0


def _records(data: bytes) -> McapRecord:
    """Parse exactly one whole top-level record (opcode, length and body) with mcap's parser."""
    return next(iter(StreamReader(io.BytesIO(data), skip_magic=True, emit_chunks=True).records))


def _iter_records(path: Path, recording: Recording) -> Iterator[McapRecord]:
    try:
        stream = open(path, 'rb')  # noqa: SIM115 (closed below)
    except OSError as error:
        raise RecordingError(f'cannot open {path}: {error.strerror or error}') from error
    with stream:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        if stream.read(MAGIC_SIZE) != MCAP_MAGIC:
            raise RecordingError(
                f'{path} is not an MCAP file (it does not start with the MCAP magic bytes); '
                'expected a recording written by the incident recorder (*.mcap)'
            )
        while True:
            start = stream.tell()
            head = stream.read(9)
            if len(head) < 9:
                recording.truncated = True
                recording.discarded_bytes = len(head)
                return
            opcode, length = struct.unpack('<BQ', head)
            if start + 9 + length > size:
                recording.truncated = True
                recording.discarded_bytes = size - start
                return
            body = stream.read(length)
            if opcode in (Opcode.DATA_END, Opcode.FOOTER):
                return  # the summary after DataEnd repeats what the data section said
            try:
                yield _records(head + body)
            except (McapError, struct.error, UnicodeDecodeError, StopIteration) as error:
                raise RecordingError(
                    f'{path}: the record at byte {start} (opcode {opcode:#04x}) is corrupt: '
                    f'{error or type(error).__name__}'
                ) from error


def read_recording(path: str | Path) -> Recording:
    """Every message of an MCAP recording, in the order it was written, footer or not."""
    path = Path(path)
    recording = Recording(path)
    schemas: dict[int, Schema] = {}
    channels: dict[int, Channel] = {}

    def take(record: McapRecord) -> None:
        if isinstance(record, Schema):
            schemas[record.id] = record
        elif isinstance(record, Channel):
            channels[record.id] = record
        elif isinstance(record, Metadata):
            recording.metadata[record.name] = dict(record.metadata)
        elif isinstance(record, Message):
            channel = channels.get(record.channel_id)
            if channel is None:
                raise RecordingError(
                    f'{path}: a message on channel {record.channel_id} comes before that '
                    'channel is defined'
                )
            schema = schemas.get(channel.schema_id)
            recording.messages.append(
                RecordedMessage(
                    topic=channel.topic,
                    type_name=schema.name if schema is not None else '',
                    log_time=record.log_time,
                    data=bytes(record.data),
                    offered_qos_profiles=channel.metadata.get('offered_qos_profiles', ''),
                )
            )

    for record in _iter_records(path, recording):
        if isinstance(record, Chunk):
            try:
                inner = breakup_chunk(record, validate_crc=True)
            except (McapError, ValueError) as error:
                raise RecordingError(f'{path}: a chunk is corrupt: {error}') from error
            for item in inner:
                take(item)
        elif not isinstance(record, (DataEnd, Footer)):
            take(record)
    return recording
