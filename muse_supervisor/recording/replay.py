"""``muse-supervisor replay``: re-feed recorded incidents to the reasoner, as if they were live.

The messages are published as recorded (their CDR bytes, unchanged) on their recorded topics,
moved into ``--namespace`` when one is given, with the QoS their publishers offered, in recorded
order and spaced by their recorded log times divided by ``--rate``. A truncated file (a recorder
that crashed) replays everything that was flushed before the crash.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from muse_supervisor.recording.definitions import DefinitionError, split_type_name
from muse_supervisor.recording.reader import RecordedMessage, Recording, read_recording
from muse_supervisor.recording.recorder import METADATA_NAME, frame_reference

INCIDENT_TYPE = 'muse_supervisor/msg/Incident'
FRAME_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
# Types that name their incident in an ``incident_id`` field.
LINKED_TYPES = (
    'muse_supervisor/msg/RecoveryProposal',
    'muse_supervisor/msg/OperatorDecision',
    'muse_supervisor/msg/ExecutionOutcome',
    'muse_supervisor/msg/OperatorAction',
)


class ReplayError(RuntimeError):
    """A recording that cannot be replayed as asked (no incidents, an unknown incident id)."""


@dataclass(frozen=True)
class ReplayOptions:
    """What to replay and how (the ``replay`` subcommand's arguments)."""

    path: Path
    namespace: str | None = None  # None: the namespace the file was recorded in
    incident: str | None = None  # None: every incident, and everything else in the file
    rate: float = 1.0
    wait_for_subscriber: float = 5.0  # s to wait for someone listening on the incidents topic

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ReplayError(f'rate {self.rate} is not a positive speed factor (e.g. 1 or 2.5)')


def message_class(type_name: str) -> Any:
    """The generated Python class of ``pkg/msg/Name`` (its package must be installed)."""
    try:
        package, name = split_type_name(type_name)
    except DefinitionError as error:
        raise ReplayError(str(error)) from error
    try:
        return getattr(importlib.import_module(f'{package}.msg'), name)
    except (ImportError, AttributeError) as error:
        raise ReplayError(
            f'cannot replay {type_name}: its Python interfaces are not installed ({error}); '
            f'install {package} in this environment'
        ) from error


def decode_message(message: RecordedMessage) -> Any:
    """The recorded message as its ROS message (its interfaces must be installed)."""
    from rclpy.serialization import deserialize_message

    return deserialize_message(message.data, message_class(message.type_name))


def select(recording: Recording, incident: str | None) -> list[RecordedMessage]:
    """The messages to replay: all of them, or one incident's updates, frames and proposals.

    An incident's key frames are those its evidence cites (``data_ref`` as the recorder returned
    it) and those recorded from just after the previous message of another incident up to its
    last update; proposals, decisions and outcomes are matched by their ``incident_id``.
    """
    incidents = [m for m in recording.messages if m.type_name == INCIDENT_TYPE]
    if not incidents:
        topics = sorted({f'{m.topic} ({m.type_name})' for m in recording.messages})
        raise ReplayError(
            f'{recording.path} holds no incidents (no {INCIDENT_TYPE} messages'
            + (f'; it has {", ".join(topics)})' if topics else '; it has no messages at all)')
            + ': expected a file written by the incident recorder'
        )
    if incident is None:
        return list(recording.messages)
    decoded = [(m, decode_message(m)) for m in incidents]
    mine = [(m, d) for m, d in decoded if d.id == incident]
    if not mine:
        ids = sorted({d.id for _, d in decoded})
        raise ReplayError(
            f'no incident {incident!r} in {recording.path}; it holds: {", ".join(ids)}'
        )
    first, last = mine[0][0].log_time, mine[-1][0].log_time
    cited = {e.data_ref for _, d in mine for e in d.evidence if e.data_ref}
    # Frames are recorded before the update that cites them: the window opens after the last
    # message that belongs to another incident.
    others = [m.log_time for m, d in decoded if d.id != incident and m.log_time <= first]
    opens = max(others) if others else -1
    chosen: list[RecordedMessage] = []
    for message in recording.messages:
        if message.type_name == INCIDENT_TYPE:
            keep = any(message is m for m, _ in mine)
        elif message.type_name in FRAME_TYPES:
            keep = frame_reference(message.topic, message.log_time) in cited or (
                opens < message.log_time <= last
            )
        elif message.type_name in LINKED_TYPES:
            keep = decode_message(message).incident_id == incident
        else:
            keep = False
        if keep:
            chosen.append(message)
    return chosen


def retarget(topic: str, recorded_namespace: str, namespace: str | None) -> str:
    """``topic`` moved from the recorded robot namespace into ``namespace`` (if one is given)."""
    if namespace is None:
        return topic
    old = '/' + recorded_namespace.strip('/') if recorded_namespace.strip('/') else ''
    new = '/' + namespace.strip('/') if namespace.strip('/') else ''
    if old and topic.startswith(old + '/'):
        return new + topic[len(old) :]
    if not old:
        return new + topic
    return topic  # recorded outside the robot's namespace: left where it was


def _summary(message: RecordedMessage) -> str:
    if message.type_name == INCIDENT_TYPE:
        incident = decode_message(message)
        states = {
            getattr(type(incident), name): name[len('STATE_') :].lower()
            for name in dir(type(incident))
            if name.startswith('STATE_')
        }
        return f'incident {incident.id} {states.get(incident.state, incident.state)}'
    if message.type_name in LINKED_TYPES:
        return f'{message.type_name.rsplit("/", 1)[-1]} for {decode_message(message).incident_id}'
    return message.type_name


def replay(
    options: ReplayOptions,
    *,
    stopping: Callable[[], bool] = lambda: False,
    log: TextIO = sys.stderr,
) -> int:
    """Publish the selected messages; returns how many were published."""
    import rclpy
    from rclpy.duration import Duration

    from muse_supervisor.recording.qos import RELIABLE, profile_from_yaml

    recording = read_recording(options.path)
    chosen = select(recording, options.incident)
    recorded_ns = recording.metadata.get(METADATA_NAME, {}).get('namespace', '/')
    if recording.truncated:
        print(
            f'replay: {options.path} ends without a footer (the recorder stopped mid-write); '
            f'replaying the {len(recording.messages)} messages flushed before that',
            file=log,
            flush=True,
        )
    node = rclpy.create_node('muse_supervisor_replay', namespace='/')
    try:
        publishers: dict[str, Any] = {}
        for message in chosen:
            topic = retarget(message.topic, recorded_ns, options.namespace)
            if topic not in publishers:
                qos = profile_from_yaml(message.offered_qos_profiles, RELIABLE)
                publishers[topic] = node.create_publisher(
                    message_class(message.type_name), topic, qos
                )
        incident_topics = sorted(
            {
                retarget(m.topic, recorded_ns, options.namespace)
                for m in chosen
                if m.type_name == INCIDENT_TYPE
            }
        )
        _wait_for_subscribers(
            [publishers[t] for t in incident_topics], options.wait_for_subscriber, stopping, log
        )
        start_wall = time.monotonic()
        start_log = chosen[0].log_time
        for index, message in enumerate(chosen, 1):
            due = start_wall + (message.log_time - start_log) / 1e9 / options.rate
            while not stopping() and time.monotonic() < due:
                time.sleep(min(0.05, max(0.0, due - time.monotonic())))
            if stopping():
                print(f'replay: stopped after {index - 1} of {len(chosen)}', file=log)
                return index - 1
            topic = retarget(message.topic, recorded_ns, options.namespace)
            publishers[topic].publish(message.data)
            print(f'replay: {index}/{len(chosen)} {topic}: {_summary(message)}', file=log)
        for publisher in publishers.values():  # let reliable subscribers receive the tail
            publisher.wait_for_all_acked(Duration(seconds=2))
        print(f'replay: published {len(chosen)} messages from {options.path}', file=log)
        return len(chosen)
    finally:
        node.destroy_node()


def _wait_for_subscribers(
    publishers: list[Any], timeout: float, stopping: Callable[[], bool], log: TextIO
) -> None:
    """Wait (up to ``timeout``) for a subscriber on each incidents topic, so none is missed."""
    if timeout <= 0:
        return
    names = ', '.join(p.topic_name for p in publishers)
    print(f'replay: waiting up to {timeout:g} s for a subscriber on {names}', file=log)
    end = time.monotonic() + timeout
    while not stopping() and time.monotonic() < end:
        if all(p.get_subscription_count() > 0 for p in publishers):
            time.sleep(0.3)  # matched: give the reliable writer a moment to complete the handshake
            return
        time.sleep(0.05)
    print(f'replay: warning: nobody subscribes to {names}; publishing anyway', file=log)
