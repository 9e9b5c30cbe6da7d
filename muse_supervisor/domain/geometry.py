"""Small planar geometry shared by every part: zones, controllers, the simulator's world."""

from __future__ import annotations

import functools
import math

_EDGE = 1e-9  # a point this close to an edge counts as on it


@functools.lru_cache(maxsize=1024)
def bounds(polygon: tuple[tuple[float, float], ...]) -> tuple[float, float, float, float]:
    """(x min, y min, x max, y max) of ``polygon``, widened by the edge tolerance.

    Zones are checked against the robot's pose at every gate period and simulator step; most
    are far away, and a box test rejects those without walking their edges.
    """
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    return min(xs) - _EDGE, min(ys) - _EDGE, max(xs) + _EDGE, max(ys) + _EDGE


def point_in_polygon(x: float, y: float, polygon: tuple[tuple[float, float], ...]) -> bool:
    """Whether (x, y) lies inside ``polygon`` (even-odd rule; points on an edge count inside)."""
    x_min, y_min, x_max, y_max = bounds(polygon)
    if not (x_min <= x <= x_max and y_min <= y <= y_max):
        return False
    inside = False
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        if _on_segment(x, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y):
            crossing = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < crossing:
                inside = not inside
    return inside


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float) -> bool:
    cross = (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1)
    if abs(cross) > _EDGE:
        return False
    return (
        min(x1, x2) - _EDGE <= x <= max(x1, x2) + _EDGE
        and min(y1, y2) - _EDGE <= y <= max(y1, y2) + _EDGE
    )


def segment_enters_polygon(
    start: tuple[float, float], end: tuple[float, float], polygon: tuple[tuple[float, float], ...]
) -> bool:
    """Whether the segment from ``start`` to ``end`` touches ``polygon`` anywhere along it."""
    x_min, y_min, x_max, y_max = bounds(polygon)
    if (
        max(start[0], end[0]) < x_min
        or min(start[0], end[0]) > x_max
        or max(start[1], end[1]) < y_min
        or min(start[1], end[1]) > y_max
    ):
        return False  # the segment's box misses the polygon's
    if point_in_polygon(*start, polygon) or point_in_polygon(*end, polygon):
        return True
    count = len(polygon)
    return any(
        _segments_cross(start, end, polygon[i], polygon[(i + 1) % count]) for i in range(count)
    )


def _segments_cross(
    a: tuple[float, float], b: tuple[float, float], c: tuple[float, float], d: tuple[float, float]
) -> bool:
    def side(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2 = side(c, d, a), side(c, d, b)
    d3, d4 = side(a, b, c), side(a, b, d)
    return ((d1 > 0) != (d2 > 0)) and ((d3 > 0) != (d4 > 0))


def normalize_angle(angle: float) -> float:
    """``angle`` wrapped to (-pi, pi]."""
    wrapped = math.fmod(angle + math.pi, 2 * math.pi)
    if wrapped <= 0:
        wrapped += 2 * math.pi
    return wrapped - math.pi


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Heading (rotation about z) of a quaternion."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
