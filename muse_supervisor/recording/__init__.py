"""Incident recording: every incident's story as ROS 2 messages in MCAP files, and replay.

``recorder`` writes (what the perception and HMI nodes call), ``reader`` reads files back,
truncated ones included, ``replay`` re-publishes a recorded incident for the reasoner, and
``definitions`` / ``qos`` build the schema text and channel metadata rosbag2 tools expect.
Unlike the ROS-free cores, this package uses rclpy: the CDR bytes are rclpy's own.
"""

from muse_supervisor.recording.reader import (
    RecordedMessage,
    Recording,
    RecordingError,
    read_recording,
)
from muse_supervisor.recording.recorder import (
    ACTIONS_TOPIC,
    DECISIONS_TOPIC,
    FRAMES_TOPIC,
    INCIDENTS_TOPIC,
    OUTCOMES_TOPIC,
    PROPOSALS_TOPIC,
    IncidentRecorder,
    RecorderError,
)

__all__ = [
    'ACTIONS_TOPIC',
    'DECISIONS_TOPIC',
    'FRAMES_TOPIC',
    'INCIDENTS_TOPIC',
    'OUTCOMES_TOPIC',
    'PROPOSALS_TOPIC',
    'IncidentRecorder',
    'RecordedMessage',
    'RecorderError',
    'Recording',
    'RecordingError',
    'read_recording',
]
