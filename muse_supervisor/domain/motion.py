"""Planar motion: the one velocity command a base gets, and the pose odometry reports.

Shared by the safety gate (what it forwards), the skill executors (what they ask for), the
simulator (what it integrates) and the HMI (what it draws): defined once, outside any of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Velocity:
    """A planar velocity command: forward speed (m/s) and turn rate (rad/s). Nothing else moves."""

    linear: float = 0.0
    angular: float = 0.0

    @property
    def is_zero(self) -> bool:
        """Whether this commands no motion at all."""
        return self.linear == 0.0 and self.angular == 0.0


ZERO = Velocity()


@dataclass(frozen=True)
class Pose2D:
    """Position (m) and heading (rad) in the odometry frame, with the speeds measured there."""

    x: float
    y: float
    yaw: float
    linear: float = 0.0
    angular: float = 0.0
