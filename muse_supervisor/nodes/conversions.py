"""Conversions between the package's ROS messages and the ROS-free core's dataclasses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from builtin_interfaces.msg import Duration, Time
from geometry_msgs.msg import PoseStamped
from nav_msgs.msg import Path as PathMsg

from muse_supervisor.domain.geometry import yaw_from_quaternion
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step
from muse_supervisor.msg import PlanEvaluation, PlanStep, RecoveryPlan, SkillArgument, StopReason
from muse_supervisor.safety.gate import Stop
from muse_supervisor.sim.rollout import Prediction, Verdict


def seconds(stamp: Any) -> float:
    """A ``builtin_interfaces/Time`` or ``Duration`` as float seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def yaw_of(orientation: Any) -> float:
    """Heading of a ``geometry_msgs/Quaternion``."""
    q = orientation
    return yaw_from_quaternion(float(q.x), float(q.y), float(q.z), float(q.w))


def time_msg(value: float) -> Time:
    """Float seconds as ``builtin_interfaces/Time`` (negative or non-finite: zero)."""
    if not math.isfinite(value) or value < 0:
        return Time()
    sec = int(value)
    return Time(sec=sec, nanosec=min(round((value - sec) * 1e9), 999_999_999))


def plan_from_msg(msg: RecoveryPlan) -> Plan:
    """The core's view of a plan message (no validation: that is the validator's job)."""
    return Plan(
        id=msg.id,
        incident_id=msg.incident_id,
        steps=tuple(_step(step) for step in msg.steps),
        tier=int(msg.tier),
        requires_approval=bool(msg.requires_approval),
    )


def _step(msg: PlanStep) -> Step:
    return Step(
        skill=int(msg.skill),
        arguments=tuple(_argument(a) for a in msg.arguments),
        timeout=seconds(msg.timeout),
    )


def _argument(msg: SkillArgument) -> Argument:
    pose = None
    if msg.type == SkillArgument.TYPE_POSE:
        p = msg.pose.pose
        pose = PoseTarget(
            frame_id=msg.pose.header.frame_id,
            x=float(p.position.x),
            y=float(p.position.y),
            yaw=yaw_of(p.orientation),
        )
    return Argument(
        name=msg.name, type=int(msg.type), number=float(msg.number), text=msg.text, pose=pose
    )


def stop_reason_msg(stop: Stop) -> StopReason:
    """A gate stop as ``StopReason``."""
    return StopReason(
        stamp=time_msg(stop.since),
        cause=int(stop.cause),
        latched=stop.latched,
        cause_present=stop.present,
        detail=stop.detail,
    )


def evaluation_msg(prediction: Prediction, frame_id: str, now: float) -> PlanEvaluation:
    """A prediction as ``PlanEvaluation`` (the explanation first among the findings)."""
    msg = PlanEvaluation(
        plan_id=prediction.plan_id,
        predicted_outcome=int(prediction.verdict),
        # The rollout is deterministic: it resolves the incident or it does not.
        success_probability=1.0 if prediction.resolves else 0.0,
        risk=float(prediction.risk),
        predicted_distance=float(prediction.distance),
        min_clearance=float(prediction.min_clearance),
        failing_step=int(prediction.failing_step),
        findings=[prediction.explanation, *prediction.findings],
    )
    msg.header.stamp = time_msg(now)
    msg.header.frame_id = frame_id
    seconds = max(0.0, prediction.duration)
    msg.predicted_duration = Duration(sec=int(seconds), nanosec=int((seconds % 1.0) * 1e9))
    path = PathMsg()
    path.header = msg.header
    for pose in prediction.path:
        stamped = PoseStamped()
        stamped.header = msg.header
        stamped.pose.position.x, stamped.pose.position.y = pose.x, pose.y
        stamped.pose.orientation.z = math.sin(pose.yaw / 2.0)
        stamped.pose.orientation.w = math.cos(pose.yaw / 2.0)
        path.poses.append(stamped)
    msg.predicted_path = path
    return msg


def prediction_from_msg(msg: PlanEvaluation) -> Prediction:
    """The core's view of a ``PlanEvaluation`` (what the reasoner ranks with)."""
    verdict = (
        Verdict(int(msg.predicted_outcome)) if msg.predicted_outcome <= 4 else Verdict.UNKNOWN
    )
    findings = tuple(msg.findings)
    path = tuple(
        Pose2D(float(p.pose.position.x), float(p.pose.position.y), yaw_of(p.pose.orientation))
        for p in msg.predicted_path.poses
    )
    return Prediction(
        plan_id=msg.plan_id,
        verdict=verdict,
        feasible=verdict in (Verdict.SUCCESS, Verdict.FAILURE) and msg.failing_step < 0,
        resolves=msg.success_probability >= 0.5,
        duration=msg.predicted_duration.sec + msg.predicted_duration.nanosec * 1e-9,
        distance=float(msg.predicted_distance),
        min_clearance=float(msg.min_clearance),
        energy_wh=0.0,
        risk=float(msg.risk),
        failing_step=int(msg.failing_step),
        path=path,
        findings=findings[1:],
        explanation=findings[0] if findings else '',
    )


def plan_msg(
    plan: Plan,
    rationale: str = '',
    sources: Sequence[str] = (),
    confidence: float = 0.0,
    risk: float = 0.0,
    generator: str = '',
) -> RecoveryPlan:
    """A plan as ``RecoveryPlan`` (the inverse of :func:`plan_from_msg`, plus the prose)."""
    msg = RecoveryPlan(
        id=plan.id, incident_id=plan.incident_id, tier=int(plan.tier),
        requires_approval=bool(plan.requires_approval), rationale=rationale,
        sources=list(sources), confidence=float(confidence), risk=float(risk),
        generator=generator,
    )  # fmt: skip
    for step in plan.steps:
        step_msg = PlanStep(skill=int(step.skill))
        whole = max(0.0, step.timeout)
        step_msg.timeout = Duration(sec=int(whole), nanosec=int((whole % 1.0) * 1e9))
        for argument in step.arguments:
            argument_msg = SkillArgument(
                name=argument.name, type=int(argument.type), number=float(argument.number),
                text=argument.text,
            )  # fmt: skip
            if argument.pose is not None:
                pose = argument.pose
                argument_msg.pose.header.frame_id = pose.frame_id
                argument_msg.pose.pose.position.x = float(pose.x)
                argument_msg.pose.pose.position.y = float(pose.y)
                argument_msg.pose.pose.orientation.z = math.sin(pose.yaw / 2.0)
                argument_msg.pose.pose.orientation.w = math.cos(pose.yaw / 2.0)
            step_msg.arguments.append(argument_msg)
        msg.steps.append(step_msg)
    return msg
