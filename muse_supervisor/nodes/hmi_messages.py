"""ROS messages as the plain, JSON-ready dicts the HMI core shows (names instead of numbers)."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np
from sensor_msgs.msg import CompressedImage

from muse_supervisor.domain import IncidentKind, Severity
from muse_supervisor.domain.evidence import EvidenceSource
from muse_supervisor.domain.incidents import IncidentState
from muse_supervisor.domain.vocabulary import Skill, Tier
from muse_supervisor.hmi.fleet import Frame
from muse_supervisor.msg import (
    ExecutionOutcome,
    GateStatus,
    Incident,
    OperatorDecision,
    OperatorNotice,
    PlanEvaluation,
    RecoveryPlan,
    RecoveryProposal,
    SkillArgument,
    StopReason,
)
from muse_supervisor.msg import OperatorAction as OperatorActionMsg
from muse_supervisor.nodes.conversions import plan_from_msg, seconds


def _names(message_type: Any, prefix: str) -> dict[int, str]:
    return {
        int(getattr(message_type, name)): name[len(prefix):].lower()
        for name in dir(message_type) if name.startswith(prefix)
    }  # fmt: skip


_GATE_STATES = _names(GateStatus, 'STATE_')
_STOP_CAUSES = _names(StopReason, 'CAUSE_')
_OUTCOMES = _names(PlanEvaluation, 'OUTCOME_')
_MODES = _names(RecoveryProposal, 'MODE_')
_NOTICES = _names(OperatorNotice, 'KIND_')
_DECISIONS = _names(OperatorDecision, 'DECISION_')
_FRAME_JPEG_QUALITY = 80


def _enum_name(enum_type: Any, value: int) -> str:
    try:
        return str(enum_type(value).name.lower())
    except ValueError:
        return f'unknown({value})'


def incident_dict(msg: Incident) -> dict[str, Any]:
    """An ``Incident`` for the page: names for kinds, states and sources."""
    return {
        'id': msg.id,
        'robot_id': msg.robot_id,
        'kind': _enum_name(IncidentKind, msg.kind),
        'other_kinds': [_enum_name(IncidentKind, k) for k in msg.other_kinds],
        'severity': _enum_name(Severity, msg.severity),
        'state': _enum_name(IncidentState, msg.state),
        'state_reason': msg.state_reason,
        'owner': msg.owner,
        'acknowledged_by': msg.acknowledged_by,
        'opened': seconds(msg.opened),
        'updated': seconds(msg.header.stamp),
        'confidence': float(msg.confidence),
        'summary': msg.summary,
        'evidence': [_evidence(e) for e in msg.evidence],
        'evidence_total': int(msg.evidence_total),
        'suppressed_count': int(msg.suppressed_count),
        'stale': bool(msg.stale),
        'last_data': seconds(msg.last_data),
        'attempts': int(msg.attempts),
        'transitions': [
            {'from': _enum_name(IncidentState, t.from_state),
             'to': _enum_name(IncidentState, t.to_state), 'stamp': seconds(t.stamp),
             'actor': t.actor, 'reason': t.reason}
            for t in msg.transitions
        ],
    }  # fmt: skip


def _evidence(msg: Any) -> dict[str, Any]:
    return {
        'source': _enum_name(EvidenceSource, msg.source),
        'signal': msg.signal,
        'cleared': bool(msg.cleared),
        'trusted': bool(msg.trusted),
        'untrusted_attributes': list(msg.untrusted_attributes),
        'topic': msg.topic,
        'producer': msg.producer,
        'summary': msg.summary,
        'confidence': float(msg.confidence),
        'stamp': seconds(msg.header.stamp),
        'data_ref': msg.data_ref,
        'attributes': {kv.key: kv.value for kv in msg.attributes},
    }


def proposal_dict(msg: RecoveryProposal) -> dict[str, Any]:
    """A ``RecoveryProposal`` for the page: each plan with its digest and its evaluation."""
    evaluations = {e.plan_id: _evaluation(e) for e in msg.evaluations}
    try:
        trace = json.loads(msg.trace_json) if msg.trace_json else []
    except ValueError:
        trace = []
    return {
        'incident_id': msg.incident_id,
        'stamp': seconds(msg.header.stamp),
        'mode': _MODES.get(msg.mode, str(msg.mode)),
        'kind': _enum_name(IncidentKind, msg.kind),
        'confidence': float(msg.confidence),
        'backend': msg.backend,
        'summary': msg.summary,
        'reasoning_ms': seconds(msg.reasoning_time) * 1e3,
        'plans': [_plan(p, evaluations.get(p.id)) for p in msg.plans],
        'trace': [t for t in trace if isinstance(t, dict)],
        'dropped': list(msg.dropped),
    }


def _plan(msg: RecoveryPlan, evaluation: dict[str, Any] | None) -> dict[str, Any]:
    return {
        'id': msg.id,
        'digest': plan_from_msg(msg).digest(),
        'tier': _enum_name(Tier, msg.tier).upper(),
        'requires_approval': bool(msg.requires_approval),
        'rationale': msg.rationale,
        'sources': list(msg.sources),
        'confidence': float(msg.confidence),
        'risk': float(msg.risk),
        'generator': msg.generator,
        'steps': [
            {'skill': _enum_name(Skill, s.skill),
             'args': {a.name: _argument_text(a) for a in s.arguments},
             # What an edit may change: numbers and names (the HMI's edit form).
             'editable': {a.name: _EDITABLE[a.type] for a in s.arguments if a.type in _EDITABLE}}
            for s in msg.steps
        ],
        'evaluation': evaluation,
    }  # fmt: skip


_EDITABLE = {SkillArgument.TYPE_NUMBER: 'number', SkillArgument.TYPE_TEXT: 'text'}


def _argument_text(msg: SkillArgument) -> str:
    if msg.type == SkillArgument.TYPE_NUMBER:
        return f'{msg.number:g}'
    if msg.type == SkillArgument.TYPE_POSE:
        p = msg.pose.pose.position
        return f'({p.x:.2f}, {p.y:.2f}) in {msg.pose.header.frame_id or "map"}'
    return str(msg.text)


def _evaluation(msg: PlanEvaluation) -> dict[str, Any]:
    return {
        'outcome': _OUTCOMES.get(msg.predicted_outcome, str(msg.predicted_outcome)),
        'success_probability': float(msg.success_probability),
        'risk': float(msg.risk),
        'duration_s': seconds(msg.predicted_duration),
        'distance': float(msg.predicted_distance),
        'min_clearance': float(msg.min_clearance) if msg.min_clearance < 1e9 else None,
        'failing_step': int(msg.failing_step),
        'findings': list(msg.findings),
        'path': [[round(p.pose.position.x, 3), round(p.pose.position.y, 3)]
                 for p in msg.predicted_path.poses],
    }  # fmt: skip


def gate_dict(msg: GateStatus) -> dict[str, Any]:
    """A ``GateStatus`` for the page: the state by name, each stop reason as a line."""
    return {
        'state': _GATE_STATES.get(msg.state, str(msg.state)),
        'active_source': msg.active_source,
        'active_plan_id': msg.active_plan_id,
        'active_step': int(msg.active_step),
        'max_linear_speed': float(msg.max_linear_speed),
        'max_angular_speed': float(msg.max_angular_speed),
        'speed_limit_reason': msg.speed_limit_reason,
        'estop_engaged': bool(msg.estop_engaged),
        'person_in_zone': bool(msg.person_in_zone),
        'heartbeat_ok': bool(msg.heartbeat_ok),
        'reset_required': bool(msg.reset_required),
        'stop_reasons': [
            _STOP_CAUSES.get(r.cause, str(r.cause)) + (' (latched)' if r.latched else '')
            + (f': {r.detail}' if r.detail else '')
            for r in msg.stop_reasons
        ],
    }  # fmt: skip


def notice_dict(msg: OperatorNotice) -> dict[str, Any]:
    """An ``OperatorNotice`` for the page."""
    return {
        'stamp': seconds(msg.header.stamp),
        'kind': _NOTICES.get(msg.kind, str(msg.kind)),
        'plan_id': msg.plan_id,
        'step_index': int(msg.step_index),
        'role': msg.role,
        'message': msg.message,
        'camera': msg.camera,
    }


def decision_dict(msg: OperatorDecision) -> dict[str, Any]:
    """An ``OperatorDecision`` for the report."""
    return {
        'stamp': seconds(msg.header.stamp), 'incident_id': msg.incident_id,
        'operator_id': msg.operator_id, 'plan_id': msg.plan_id, 'plan_digest': msg.plan_digest,
        'decision': _DECISIONS.get(msg.decision, str(msg.decision)), 'reason': msg.reason,
        'accepted': bool(msg.accepted), 'message': msg.message,
    }  # fmt: skip


def action_dict(msg: OperatorActionMsg) -> dict[str, Any]:
    """An ``OperatorAction`` (an audit entry about the robot) for the report."""
    return {
        'stamp': seconds(msg.header.stamp), 'actor': msg.operator_id, 'role': msg.role,
        'action': msg.action, 'incident_id': msg.incident_id, 'plan_id': msg.plan_id,
        'plan_digest': msg.plan_digest, 'reason': msg.reason, 'accepted': bool(msg.accepted),
        'message': msg.message, 'remote': msg.remote,
    }  # fmt: skip


def outcome_dict(msg: ExecutionOutcome) -> dict[str, Any]:
    """An ``ExecutionOutcome`` for the report."""
    return {
        'stamp': seconds(msg.header.stamp), 'incident_id': msg.incident_id,
        'plan_id': msg.plan_id, 'error_code': int(msg.error_code), 'error_msg': msg.error_msg,
        'steps_completed': int(msg.steps_completed), 'step_count': int(msg.step_count),
        'total_time_s': seconds(msg.total_time),
    }  # fmt: skip


def frame_jpeg(msg: Any) -> Frame | None:
    """A camera message (``Image`` or ``CompressedImage``) as a JPEG :class:`Frame`, or ``None``.

    A compressed JPEG is kept as it came; raw rgb8, bgr8 and mono8 images are encoded.
    """
    stamp = float(msg.header.stamp.sec) + float(msg.header.stamp.nanosec) * 1e-9
    if isinstance(msg, CompressedImage):
        image = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            return None
        if 'jpeg' in msg.format or 'jpg' in msg.format:
            return Frame(bytes(msg.data), stamp, image.shape[1], image.shape[0])
    else:
        channels = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}.get(msg.encoding)
        if channels is None or msg.step != msg.width * channels:
            return None
        image = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, channels)
        if msg.encoding == 'rgb8':
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, _FRAME_JPEG_QUALITY])
    return Frame(data.tobytes(), stamp, image.shape[1], image.shape[0]) if ok else None
