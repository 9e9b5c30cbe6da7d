"""Conversions between the package's ROS messages and the ROS-free core's dataclasses."""

from __future__ import annotations

import math
from typing import Any

from builtin_interfaces.msg import Time

from muse_supervisor.domain.geometry import yaw_from_quaternion
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step
from muse_supervisor.msg import PlanStep, RecoveryPlan, SkillArgument, StopReason
from muse_supervisor.safety.gate import Stop


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
