"""The simulator's world: maps in Nav2's map_server format, named places, zones, and paths."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest

from muse_supervisor.sim.planner import inflate, line_clear, path_length, plan_path
from muse_supervisor.sim.world import (
    FREE,
    OCCUPIED,
    UNKNOWN,
    WorldError,
    Zone,
    load_map,
    load_world,
    read_pgm,
    write_pgm,
)

REPO = Path(__file__).resolve().parents[2]
WAREHOUSE = REPO / 'config' / 'maps' / 'warehouse_world.yaml'


def _map(tmp_path: Path, pixels: np.ndarray, **spec: object) -> Path:
    write_pgm(tmp_path / 'm.pgm', pixels)
    fields = {'image': 'm.pgm', 'resolution': 0.1, 'origin': [0.0, 0.0, 0.0], **spec}
    text = '\n'.join(f'{k}: {v}' for k, v in fields.items())
    (tmp_path / 'm.yaml').write_text(text.replace("'", ''))
    return tmp_path / 'm.yaml'


def test_map_server_thresholds_and_orientation(tmp_path: Path) -> None:
    """White free, black occupied, grey unknown; the image's top row is the map's far edge."""
    image = np.full((4, 3), 254, dtype=np.uint8)
    image[0, 0] = 0  # top-left pixel: the cell at the largest y, smallest x
    image[3, 2] = 128  # grey between the thresholds: unknown
    occupancy = load_map(_map(tmp_path, image))
    assert occupancy.cells.shape == (4, 3)
    assert occupancy.cells[3, 0] == OCCUPIED and occupancy.cells[0, 2] == UNKNOWN
    assert occupancy.cells[0, 0] == FREE
    assert occupancy.cell_of(0.05, 0.35) == (3, 0)
    assert not occupancy.free(0.05, 0.35) and occupancy.free(0.15, 0.15)
    assert not occupancy.free(-1.0, 0.0)  # off the map is not free


def test_plain_pgm_and_negate(tmp_path: Path) -> None:
    (tmp_path / 'm.pgm').write_text('P2\n# a comment\n2 1\n255\n0 255\n')
    (tmp_path / 'm.yaml').write_text(
        'image: m.pgm\nresolution: 1.0\norigin: [0, 0, 0]\nnegate: 1\n'
    )
    occupancy = load_map(tmp_path / 'm.yaml')
    assert list(occupancy.cells[0]) == [FREE, OCCUPIED]
    assert read_pgm(tmp_path / 'm.pgm').shape == (1, 2)


@pytest.mark.parametrize(
    ('spec', 'words'),
    [
        ({'resolution': 0}, 'resolution'),
        ({'origin': '[0, 0]'}, 'origin'),
        ({'origin': '[0, 0, 1.0]'}, 'rotated'),
        ({'mode': 'scale'}, 'trinary'),
        ({'image': 'missing.pgm'}, 'does not exist'),
    ],
)
def test_bad_maps_are_refused_with_the_reason(tmp_path: Path, spec: dict, words: str) -> None:
    with pytest.raises(WorldError, match=words):
        load_map(_map(tmp_path, np.full((2, 2), 254, dtype=np.uint8), **spec))


def test_the_shipped_warehouse_loads_with_its_places_and_zones() -> None:
    world = load_world(WAREHOUSE)
    assert (world.map.width, world.map.height, world.map.resolution) == (200, 200, 0.05)
    for name in ('charger_1', 'dock_1', 'aisle_1_end', 'aisle_2_end', 'staging'):
        place = world.place(name)
        assert place is not None and world.map.free(place.x, place.y), name
    assert not world.map.free(4.0, 1.3)  # a shelf
    assert {z.name for z in world.zones} == {'loading_bay', 'crossing'}


def test_shipped_map_matches_its_generator() -> None:
    """config/maps/warehouse.pgm is what tools/make_warehouse_map.py draws."""
    import importlib.util

    spec = importlib.util.spec_from_file_location('mk', REPO / 'tools' / 'make_warehouse_map.py')
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert np.array_equal(module.draw(), read_pgm(REPO / 'config' / 'maps' / 'warehouse.pgm'))


def test_paths_on_the_warehouse_stay_clear_and_go_around_shelves() -> None:
    world = load_world(WAREHOUSE)
    grid = inflate(world.map, 0.45, tuple(z for z in world.zones if z.kind == 'keep_out'))
    path = plan_path(grid, (0.0, 0.0), (6.5, -2.2))
    assert path is not None and path[0] == (0.0, 0.0) and path[-1] == (6.5, -2.2)
    assert all(line_clear(grid, a, b) for a, b in itertools.pairwise(path))
    assert 6.8 < path_length(path) < 8.5  # around the shelf end, not through it
    assert plan_path(grid, (0.0, 0.0), (4.0, 1.3)) is None  # inside a shelf
    assert plan_path(grid, (0.0, 0.0), (-1.5, 4.2)) is None  # inside the keep-out zone


def _corridor(width_cells: int) -> np.ndarray:
    """A 40 x 40 room split by a wall with a gap of ``width_cells`` (0.1 m cells)."""
    cells = np.full((40, 40), FREE, dtype=np.int8)
    cells[:, 19:21] = OCCUPIED
    cells[18 : 18 + width_cells, 19:21] = FREE
    return cells


@pytest.mark.parametrize(('gap', 'reachable'), [(10, True), (8, True), (6, False), (3, False)])
def test_narrow_passages_need_room_for_the_robot(gap: int, reachable: bool) -> None:
    from muse_supervisor.sim.world import OccupancyMap

    occupancy = OccupancyMap(_corridor(gap), 0.1, (0.0, 0.0))
    grid = inflate(occupancy, 0.35)
    path = plan_path(grid, (0.5, 2.0), (3.5, 2.0))
    assert (path is not None) == reachable
    if path is not None:
        assert all(line_clear(grid, a, b) for a, b in itertools.pairwise(path))


def test_extra_obstacles_and_zones_block_the_grid() -> None:
    from muse_supervisor.sim.world import OccupancyMap

    occupancy = OccupancyMap(np.full((40, 40), FREE, dtype=np.int8), 0.1, (0.0, 0.0))
    zone = Zone('spill', 'keep_out', ((1.0, 0.0), (1.5, 0.0), (1.5, 4.0), (1.0, 4.0)))
    assert plan_path(inflate(occupancy, 0.2, (zone,)), (0.5, 2.0), (3.5, 2.0)) is None
    grid = inflate(occupancy, 0.2, circles=((2.0, 2.0, 0.5),))
    path = plan_path(grid, (0.5, 2.0), (3.5, 2.0))
    assert path is not None and path_length(path) > 3.0 + 0.1  # around the circle
    assert min(math.dist(p, (2.0, 2.0)) for p in path) > 0.5


def test_a_start_too_close_to_a_wall_can_still_leave() -> None:
    from muse_supervisor.sim.world import OccupancyMap

    cells = np.full((40, 40), FREE, dtype=np.int8)
    cells[:, :2] = OCCUPIED
    grid = inflate(OccupancyMap(cells, 0.1, (0.0, 0.0)), 0.4)
    assert grid.blocked_at(0.3, 2.0)
    assert plan_path(grid, (0.3, 2.0), (3.0, 2.0)) is not None


def test_the_shipped_world_and_the_shipped_gate_name_the_same_places_and_zones() -> None:
    """The simulator validates plans with the gate's configuration only (as execution does).

    A place only the world knew would be predicted reachable and refused on the robot; a keep-out
    zone only the world knew would be planned around but never enforced.
    """
    from muse_supervisor.safety.config import gate_config_from_file

    repo = Path(__file__).resolve().parents[2]
    world = load_world(repo / 'config' / 'maps' / 'warehouse_world.yaml')
    gate = gate_config_from_file(str(repo / 'config' / 'safety_gate.yaml'), '/safety_gate')
    assert {(p.name, p.x, p.y, p.yaw) for p in world.places} == {
        (w.name, w.x, w.y, w.yaw) for w in gate.waypoints
    }
    keep_out = {(z.name, z.polygon) for z in world.zones if z.kind == 'keep_out'}
    assert keep_out and keep_out == {(z.name, z.polygon) for z in gate.keep_out_zones}
