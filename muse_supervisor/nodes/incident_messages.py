"""Incidents between the perception core's snapshots and ``Incident`` / ``IncidentList``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from diagnostic_msgs.msg import KeyValue
from std_msgs.msg import Header

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.domain.incidents import IncidentSnapshot
from muse_supervisor.msg import Evidence, Incident, IncidentList, IncidentTransition
from muse_supervisor.nodes.conversions import time_msg


def incident_msg(
    snapshot: IncidentSnapshot,
    key_frames: Mapping[tuple[str, float], str] | None = None,
    evidence_limit: int = 0,
) -> Incident:
    """The ``Incident`` message of one snapshot (stamped with the time of its last update).

    ``key_frames`` maps (topic, stamp) of recorded camera frames to their recording reference:
    camera evidence from such a frame cites it in ``data_ref``. With ``evidence_limit``, the
    message carries the first piece of evidence and the newest ones up to that many: an
    incident that keeps hundreds would otherwise send them all with every update.
    """
    frames = key_frames or {}
    evidence = snapshot.evidence
    if 0 < evidence_limit < len(evidence):
        evidence = evidence[:1] + evidence[len(evidence) - (evidence_limit - 1) :]
    return Incident(
        header=Header(stamp=time_msg(snapshot.updated)),
        id=snapshot.id, dedup_key=snapshot.dedup_key, robot_id=snapshot.robot_id,
        kind=int(snapshot.kind), other_kinds=[int(k) for k in snapshot.other_kinds],
        severity=int(snapshot.severity), state=int(snapshot.state),
        state_reason=snapshot.state_reason, acknowledged_by=snapshot.acknowledged_by,
        owner=snapshot.owner, opened=time_msg(snapshot.opened),
        confidence=float(snapshot.confidence), summary=snapshot.summary,
        evidence=[evidence_msg(o, frames.get((o.topic, o.stamp), '')) for o in evidence],
        evidence_total=len(snapshot.evidence),
        suppressed_count=snapshot.suppressed, stale=snapshot.stale,
        last_data=time_msg(snapshot.last_data), attempts=snapshot.attempts,
        transitions=[
            IncidentTransition(
                from_state=int(t.from_state), to_state=int(t.to_state),
                stamp=time_msg(t.stamp), actor=t.actor, reason=t.reason,
            )
            for t in snapshot.transitions
        ],
    )  # fmt: skip


def evidence_msg(observation: Observation, data_ref: str = '') -> Evidence:
    """The ``Evidence`` message of one observation, its provenance and trust kept."""
    return Evidence(
        header=Header(stamp=time_msg(observation.stamp), frame_id=observation.frame_id),
        source=int(observation.source), signal=observation.signal,
        cleared=not observation.active, trusted=observation.trusted,
        untrusted_attributes=list(observation.untrusted), topic=observation.topic,
        producer=observation.producer, summary=observation.summary,
        confidence=float(observation.confidence), data_ref=data_ref or observation.data_ref,
        attributes=[KeyValue(key=k, value=v) for k, v in observation.attributes],
    )  # fmt: skip


def incident_list_msg(
    robot_id: str, snapshots: Iterable[IncidentSnapshot], stamp: float, evidence_limit: int = 0
) -> IncidentList:
    """The latched list of a robot's open incidents."""
    return IncidentList(
        header=Header(stamp=time_msg(stamp)),
        robot_id=robot_id,
        incidents=[
            incident_msg(s, evidence_limit=evidence_limit) for s in snapshots if not s.terminal
        ],
    )
