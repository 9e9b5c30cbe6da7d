"""QoS profiles as rosbag2 writes them in a channel's ``offered_qos_profiles`` metadata, and back.

rosbag2 (Jazzy and later, metadata version 9) stores the profiles a topic's publishers offered as
a YAML list of mappings with lower-case names (``keep_last``, ``reliable``, ``transient_local``)
and durations as ``{sec, nsec}``; an unset (infinite) duration is written as
``sec: 9223372036, nsec: 854775807``. Writing the same lets ``ros2 bag play`` and Foxglove pick
the right QoS, and lets ``muse-supervisor replay`` publish each topic as it was offered.
"""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]
from rclpy.duration import Duration
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    LivelinessPolicy,
    QoSProfile,
    ReliabilityPolicy,
)

# rosbag2's spelling of an infinite (unset) duration: rmw's RMW_DURATION_INFINITE in s + ns.
INFINITE = {'sec': 9223372036, 'nsec': 854775807}

# Incidents, proposals, decisions and outcomes: nothing may be dropped (reliable, a queue).
RELIABLE = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE
)
# Key frames come from camera topics, which are sensor data: best effort, a short queue.
SENSOR_DATA = QoSProfile(
    depth=5, reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE
)

_HISTORY = {HistoryPolicy.KEEP_LAST: 'keep_last', HistoryPolicy.KEEP_ALL: 'keep_all'}
_RELIABILITY = {
    ReliabilityPolicy.RELIABLE: 'reliable',
    ReliabilityPolicy.BEST_EFFORT: 'best_effort',
}
_DURABILITY = {
    DurabilityPolicy.VOLATILE: 'volatile',
    DurabilityPolicy.TRANSIENT_LOCAL: 'transient_local',
}
_LIVELINESS = {
    LivelinessPolicy.AUTOMATIC: 'automatic',
    LivelinessPolicy.MANUAL_BY_TOPIC: 'manual_by_topic',
}


def _duration(value: Duration) -> dict[str, int]:
    nanoseconds = value.nanoseconds
    if nanoseconds <= 0:  # 0 is rclpy's "default", which for these policies means infinite
        return dict(INFINITE)
    return {'sec': nanoseconds // 10**9, 'nsec': nanoseconds % 10**9}


def _name(table: dict[Any, str], policy: Any, default: str) -> str:
    return table.get(policy, default)


def offered_qos_yaml(profile: QoSProfile) -> str:
    """The ``offered_qos_profiles`` YAML for one publisher offering ``profile``."""
    entry = {
        'history': _name(_HISTORY, profile.history, 'keep_last'),
        'depth': int(profile.depth),
        'reliability': _name(_RELIABILITY, profile.reliability, 'reliable'),
        'durability': _name(_DURABILITY, profile.durability, 'volatile'),
        'deadline': _duration(profile.deadline),
        'lifespan': _duration(profile.lifespan),
        'liveliness': _name(_LIVELINESS, profile.liveliness, 'automatic'),
        'liveliness_lease_duration': _duration(profile.liveliness_lease_duration),
        'avoid_ros_namespace_conventions': bool(profile.avoid_ros_namespace_conventions),
    }
    text: str = yaml.safe_dump([entry], sort_keys=False)
    return text


def profile_from_yaml(text: str, fallback: QoSProfile = RELIABLE) -> QoSProfile:
    """The QoS to publish a recorded topic with: its first offered profile, else ``fallback``.

    Only history, depth, reliability and durability are taken: deadlines and lifespans of the
    original publisher would make a replay at another rate drop or flag messages.
    """
    try:
        entries = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        entries = None
    if not isinstance(entries, list) or not entries or not isinstance(entries[0], dict):
        return fallback
    entry = entries[0]

    def pick(table: dict[Any, str], key: str, default: Any) -> Any:
        value = entry.get(key)
        for policy, name in table.items():
            if value == name or value == int(policy):
                return policy
        return default

    depth = entry.get('depth')
    return QoSProfile(
        history=pick(_HISTORY, 'history', fallback.history),
        depth=depth if isinstance(depth, int) and depth > 0 else fallback.depth,
        reliability=pick(_RELIABILITY, 'reliability', fallback.reliability),
        durability=pick(_DURABILITY, 'durability', fallback.durability),
    )
