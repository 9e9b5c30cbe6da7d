"""Planar geometry used by the gate's keep-out rules and the simulator: the box pre-test is exact.

The bounding-box rejection is an optimisation of functions on the stop path, so it is checked
against the plain even-odd walk over random polygons, points and segments, edges included.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.domain import geometry

coordinate = st.floats(-5.0, 5.0, allow_nan=False).map(lambda v: round(v, 2))
point = st.tuples(coordinate, coordinate)
polygon = st.lists(point, min_size=3, max_size=7).map(tuple)


def _walk(x: float, y: float, poly: tuple[tuple[float, float], ...]) -> bool:
    """The even-odd walk without the box test (the function as it was before it)."""
    inside = False
    for i in range(len(poly)):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % len(poly)]
        if geometry._on_segment(x, y, x1, y1, x2, y2):
            return True
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


@settings(max_examples=400, deadline=None)
@given(polygon, point)
def test_point_in_polygon_agrees_with_the_plain_walk(poly: tuple, p: tuple) -> None:
    assert geometry.point_in_polygon(*p, poly) == _walk(*p, poly)


@settings(max_examples=200, deadline=None)
@given(polygon, st.integers(0, 6))
def test_vertices_and_edge_midpoints_count_inside(poly: tuple, index: int) -> None:
    a, b = poly[index % len(poly)], poly[(index + 1) % len(poly)]
    assert geometry.point_in_polygon(*a, poly)
    assert geometry.point_in_polygon((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, poly)


@settings(max_examples=400, deadline=None)
@given(polygon, point, point)
def test_segment_enters_polygon_agrees_with_the_test_without_the_box(
    poly: tuple, start: tuple, end: tuple
) -> None:
    count = len(poly)
    plain = (
        _walk(*start, poly)
        or _walk(*end, poly)
        or any(
            geometry._segments_cross(start, end, poly[i], poly[(i + 1) % count])
            for i in range(count)
        )
    )
    assert geometry.segment_enters_polygon(start, end, poly) == plain
