"""The simulated base in its world: kinematics, range sensing, contact, clearance and power.

One implementation, used by the plan rollout (:mod:`~muse_supervisor.sim.rollout`) and by the
simulated robot that ``sim_world_node`` drives (:mod:`~muse_supervisor.sim.robot`): what the
simulator predicts and what the demo robot does come from the same equations, so a prediction
can be checked against an execution.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from muse_supervisor.domain.geometry import bounds, normalize_angle, point_in_polygon
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.sim.world import OccupancyMap


@dataclass(frozen=True)
class RobotModel:
    """The simulated base: a round footprint, its range sensor and its battery."""

    radius: float = 0.3  # m, footprint radius
    plan_margin: float = 0.15  # m beyond the radius the path planner keeps (Nav2's inflation)
    sensor_range: tuple[float, float] = (0.05, 4.0)  # (min, max) m of the forward range sensor
    battery_wh: float = 200.0
    idle_w: float = 20.0  # electronics, always
    drive_w_per_mps: float = 120.0  # traction power per m/s of forward speed
    turn_w_per_radps: float = 15.0

    def power_w(self, linear: float, angular: float) -> float:
        """Electrical power drawn while driving at (``linear``, ``angular``)."""
        return (
            self.idle_w + self.drive_w_per_mps * abs(linear) + self.turn_w_per_radps * abs(angular)
        )


DEFAULT_ROBOT = RobotModel()


@dataclass(frozen=True)
class Circle:
    """An incident overlay: an obstacle, a person (with their protective radius), a spill."""

    name: str
    x: float
    y: float
    radius: float


def drive(pose: Pose2D, linear: float, angular: float, dt: float) -> Pose2D:
    """Differential-drive kinematics over ``dt`` (midpoint heading), carrying the velocity."""
    heading = pose.yaw + angular * dt / 2
    return Pose2D(
        pose.x + linear * math.cos(heading) * dt,
        pose.y + linear * math.sin(heading) * dt,
        normalize_angle(pose.yaw + angular * dt),
        linear,
        angular,
    )


def distance_ahead(
    occupancy: OccupancyMap, robot: RobotModel, obstacles: Iterable[Circle], pose: Pose2D
) -> float:
    """Distance from the robot's front to the first obstacle straight ahead (inf: none in reach).

    Sphere tracing on the map's distance field (each step as long as the clearance there
    allows), and the exact intersection with each obstacle circle.
    """
    reach = robot.sensor_range[1] + robot.radius
    cos, sin = math.cos(pose.yaw), math.sin(pose.yaw)
    hit = math.inf
    travelled = robot.radius
    while travelled <= reach:
        free = occupancy.clearance(pose.x + cos * travelled, pose.y + sin * travelled)
        if free <= occupancy.resolution / 2:
            hit = travelled
            break
        travelled += free
    for c in obstacles:  # ray-circle: |p + t d - c| = r, smallest t >= 0
        bx, by = pose.x - c.x, pose.y - c.y
        b = bx * cos + by * sin
        disc = b * b - (bx * bx + by * by - c.radius * c.radius)
        if disc >= 0:
            t = -b - math.sqrt(disc)
            if t >= 0:
                hit = min(hit, t)
    return max(0.0, hit - robot.radius)


def range_reading(robot: RobotModel, distance: float) -> float:
    """What the range sensor reports for an object at ``distance`` (REP 117).

    ``+inf`` when nothing is within the maximum range; never less than the minimum range.
    """
    low, high = robot.sensor_range
    return math.inf if distance > high else max(low, distance)


def in_protective_zone(robot: RobotModel, people: Iterable[Circle], pose: Pose2D) -> bool:
    """True while the footprint touches a person's protective circle."""
    return any(math.dist((pose.x, pose.y), (c.x, c.y)) <= c.radius + robot.radius for c in people)


def clearance(
    occupancy: OccupancyMap,
    robot: RobotModel,
    circles: Iterable[Circle],
    zones: Iterable[tuple[tuple[float, float], ...]],
    pose: Pose2D,
) -> float:
    """Distance from the footprint's edge to the nearest map cell, circle or zone polygon."""
    nearest = min(
        (math.dist((pose.x, pose.y), (c.x, c.y)) - c.radius for c in circles),
        default=math.inf,
    )
    nearest = min(nearest, occupancy.clearance(pose.x, pose.y))
    for polygon in zones:
        x_min, y_min, x_max, y_max = bounds(polygon)
        box = math.hypot(max(x_min - pose.x, 0.0, pose.x - x_max),
                         max(y_min - pose.y, 0.0, pose.y - y_max))  # fmt: skip
        if box < nearest:  # the polygon can be no nearer than its box
            nearest = min(nearest, polygon_distance(polygon, pose.x, pose.y))
    return max(0.0, nearest - robot.radius)


def contact(
    occupancy: OccupancyMap, robot: RobotModel, obstacles: Iterable[Circle], pose: Pose2D
) -> str:
    """What the footprint touches at ``pose`` ('' when nothing), in words."""
    if occupancy.clearance(pose.x, pose.y) < robot.radius:
        return f'collision with the map at ({pose.x:.2f}, {pose.y:.2f})'
    for c in obstacles:
        if math.dist((pose.x, pose.y), (c.x, c.y)) < c.radius + robot.radius:
            return f'collision with {c.name} at ({pose.x:.2f}, {pose.y:.2f})'
    return ''


def polygon_distance(polygon: tuple[tuple[float, float], ...], x: float, y: float) -> float:
    """Distance from (x, y) to a polygon (0 inside it)."""
    if point_in_polygon(x, y, polygon):
        return 0.0
    best = math.inf
    for i in range(len(polygon)):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % len(polygon)]
        dx, dy = x2 - x1, y2 - y1
        t = (
            0.0
            if dx == dy == 0
            else max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
        )
        best = min(best, math.dist((x, y), (x1 + t * dx, y1 + t * dy)))
    return best
