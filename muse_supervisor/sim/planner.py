"""Paths on the map: the occupancy grid inflated by the robot's radius, and A* on it.

What Nav2's planner does for ``navigate_to``, reduced to what a prediction needs: a collision
free path for a round robot of the given radius (unknown cells count as occupied), or the word
that there is none. The path is shortened by line of sight so a follower drives straight lines.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
from dataclasses import dataclass

import numpy as np

from muse_supervisor.sim.world import FREE, OCCUPIED, OccupancyMap, Zone

_SQRT2 = math.sqrt(2.0)
_MOVES = tuple(
    (dr, dc, _SQRT2 if dr and dc else 1.0) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc
)


@dataclass(frozen=True)
class Grid:
    """Where the robot's center may be: True = blocked (obstacle, unknown, zone, or too close)."""

    blocked: np.ndarray
    map: OccupancyMap
    obstacles: np.ndarray  # the cells themselves (before inflation): never entered

    @functools.cached_property
    def flat_blocked(self) -> bytes:
        """``blocked`` row-major, one byte per cell: indexing it is far cheaper than numpy's."""
        return self.blocked.astype(np.uint8).tobytes()

    @functools.cached_property
    def flat_obstacles(self) -> bytes:
        """``obstacles`` row-major, one byte per cell."""
        return self.obstacles.astype(np.uint8).tobytes()

    @functools.cached_property
    def coarse(self) -> Grid:
        """The grid at twice the cell size, a cell blocked where any of its four is.

        Searching it first is about four times cheaper; a path on it is a path here (every
        fine cell it crosses is free). Where it finds none (a passage only fine cells show),
        :func:`plan_path` searches this grid itself.
        """
        height, width = self.blocked.shape
        rows, columns = (height + 1) // 2 * 2, (width + 1) // 2 * 2

        def halve(fine: np.ndarray) -> np.ndarray:
            padded = np.ones((rows, columns), bool)  # beyond the map: blocked
            padded[:height, :width] = fine
            return np.asarray(padded.reshape(rows // 2, 2, columns // 2, 2).any(axis=(1, 3)))

        occupancy = self.map
        obstacles = halve(self.obstacles)
        cells = np.where(obstacles, np.int8(OCCUPIED), np.int8(FREE)).astype(np.int8)
        half = OccupancyMap(cells, occupancy.resolution * 2, occupancy.origin)
        return Grid(halve(self.blocked), half, obstacles)

    def blocked_at(self, x: float, y: float) -> bool:
        """Whether the robot's center may not be at (x, y) (off the map: blocked)."""
        occupancy = self.map
        column = math.floor((x - occupancy.origin[0]) / occupancy.resolution)
        row = math.floor((y - occupancy.origin[1]) / occupancy.resolution)
        height, width = self.blocked.shape
        if not (0 <= row < height and 0 <= column < width):
            return True
        return bool(self.flat_blocked[row * width + column])


def inflate(
    occupancy: OccupancyMap,
    radius: float,
    zones: tuple[Zone, ...] = (),
    circles: tuple[tuple[float, float, float], ...] = (),
) -> Grid:
    """The grid of blocked centers for a round robot of ``radius`` (m).

    Keep-out ``zones`` and extra obstacles (``circles``: x, y, radius, e.g. where perception
    put a pallet or a person's protective zone) are blocked too, before inflation.
    """
    obstacles = occupancy.cells != FREE
    if zones or circles:
        obstacles = obstacles.copy()
        ys = occupancy.origin[1] + (np.arange(occupancy.height) + 0.5) * occupancy.resolution
        xs = occupancy.origin[0] + (np.arange(occupancy.width) + 0.5) * occupancy.resolution
        gx, gy = np.meshgrid(xs, ys)
        for cx, cy, r in circles:
            obstacles |= (gx - cx) ** 2 + (gy - cy) ** 2 <= r * r
        for zone in zones:
            obstacles |= _polygon_mask(zone.polygon, gx, gy)
    cells = math.ceil(radius / occupancy.resolution)
    blocked = obstacles.copy()
    height, width = obstacles.shape
    for dr in range(-cells, cells + 1):
        for dc in range(-cells, cells + 1):
            if (dr or dc) and (dr * dr + dc * dc) * occupancy.resolution**2 <= radius * radius:
                shifted = np.zeros_like(obstacles)
                rs, re_ = max(0, dr), min(height, height + dr)
                cs, ce = max(0, dc), min(width, width + dc)
                shifted[rs:re_, cs:ce] = obstacles[rs - dr : re_ - dr, cs - dc : ce - dc]
                blocked |= shifted
    return Grid(blocked, occupancy, obstacles)


def _polygon_mask(
    polygon: tuple[tuple[float, float], ...], gx: np.ndarray, gy: np.ndarray
) -> np.ndarray:
    inside = np.zeros(gx.shape, dtype=bool)
    count = len(polygon)
    for i in range(count):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % count]
        if y1 == y2:
            continue
        crosses = (y1 > gy) != (y2 > gy)
        at = x1 + (gy - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (gx < at)
    return inside


def plan_path(
    grid: Grid, start: tuple[float, float], goal: tuple[float, float]
) -> list[tuple[float, float]] | None:
    """A short 8-connected path from ``start`` to ``goal`` (world points), or ``None``.

    A* on :attr:`Grid.coarse` first, then on the grid itself if that finds none; the path is
    then straightened by line of sight on the grid itself. A start inside the inflated area (a
    robot already close to something) may leave it by the way it came: only the goal must be
    clear.
    """
    if not grid.blocked_at(*goal):
        for searched in (grid.coarse, grid):
            points = _search(searched, start, goal)
            if points is not None:
                return _shortcut(grid, points)
    return None


def _search(
    grid: Grid, start: tuple[float, float], goal: tuple[float, float]
) -> list[tuple[float, float]] | None:
    """A* on ``grid``: start, the centers of the cells between, goal; ``None`` if no path."""
    occupancy = grid.map
    s, g = occupancy.cell_of(*start), occupancy.cell_of(*goal)
    if not occupancy.inside(*s) or not occupancy.inside(*g) or grid.blocked[g]:
        return None
    # Cells as row-major indices and the grids as bytes: the search is pure Python, and this
    # is several times faster than tuples and numpy scalars.
    blocked, obstacles = grid.flat_blocked, grid.flat_obstacles
    height, width = grid.blocked.shape
    start_cell, goal_cell = s[0] * width + s[1], g[0] * width + g[1]
    moves = [(dr, dc, step, dr * width + dc) for dr, dc, step in _MOVES]
    best = {start_cell: 0.0}
    parent: dict[int, int] = {}
    frontier = [(_distance(s, g), 0.0, start_cell)]
    while frontier:
        _, cost, cell = heapq.heappop(frontier)
        if cell == goal_cell:
            break
        if cost > best.get(cell, math.inf):
            continue
        row, column = divmod(cell, width)
        leaving = blocked[cell]
        for dr, dc, step, offset in moves:
            nr, nc = row + dr, column + dc
            if not (0 <= nr < height and 0 <= nc < width):
                continue
            neighbour = cell + offset
            if obstacles[neighbour]:
                continue
            # Blocked (too close) cells are entered only on the way out of them, from a start
            # that was already too close: the robot must be able to back out.
            if blocked[neighbour] and not leaving:
                continue
            if dr and dc and (obstacles[cell + dc] or obstacles[cell + dr * width]):
                continue  # no cutting corners between two obstacle cells
            total = cost + step
            if total < best.get(neighbour, math.inf):
                best[neighbour] = total
                parent[neighbour] = cell
                estimate = total + _distance((nr, nc), g)
                heapq.heappush(frontier, (estimate, total, neighbour))
    else:
        return None
    if goal_cell not in best:
        return None
    cells = [goal_cell]
    while cells[-1] != start_cell:
        cells.append(parent[cells[-1]])
    cells.reverse()
    return [start, *(occupancy.center_of(*divmod(c, width)) for c in cells[1:-1]), goal]


def _distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    dr, dc = abs(a[0] - b[0]), abs(a[1] - b[1])
    return (dr + dc) + (_SQRT2 - 2.0) * min(dr, dc)  # octile: admissible on this grid


def line_clear(grid: Grid, a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether every point of segment a-b (sampled at half a cell) is an allowed center."""
    length = math.dist(a, b)
    samples = max(1, math.ceil(length / (grid.map.resolution * 0.5)))
    for i in range(samples + 1):
        t = i / samples
        if grid.blocked_at(a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t):
            return False
    return True


def _shortcut(grid: Grid, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop every point the robot can skip by driving straight (line of sight)."""
    result = [points[0]]
    i = 0
    while i < len(points) - 1:
        j = len(points) - 1
        while j > i + 1 and not line_clear(grid, points[i], points[j]):
            j -= 1
        result.append(points[j])
        i = j
    return result


def path_length(points: list[tuple[float, float]]) -> float:
    """Length of a polyline (m)."""
    return sum(math.dist(a, b) for a, b in itertools.pairwise(points))
