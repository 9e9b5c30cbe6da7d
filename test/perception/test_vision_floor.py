"""Drive-corridor obstruction and floor anomalies on drawn aisle scenes."""

from __future__ import annotations

import pytest

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.vision import synthetic
from muse_supervisor.perception.vision.floor import (
    CORRIDOR_OBSTRUCTED,
    DRIVE_CORRIDOR,
    FLOOR_ANOMALY,
    FloorAnalyzer,
    Trapezoid,
)
from muse_supervisor.perception.vision.frames import Frame

SIZES = [(480, 640), (720, 1280)]


def _split(observations: list[Observation]) -> tuple[Observation, list[Observation]]:
    corridor = [o for o in observations if o.signal == CORRIDOR_OBSTRUCTED]
    floor = [o for o in observations if o.signal == FLOOR_ANOMALY]
    assert len(corridor) == 1 and floor and len(corridor) + len(floor) == len(observations)
    return corridor[0], floor


def _box(observation: Observation) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = (
        tuple(map(float, p.split(','))) for p in observation.attribute('box').split()
    )
    return x0, y0, x1, y1


@pytest.mark.parametrize(('height', 'width'), SIZES)
def test_a_clear_aisle_gives_clear_verdicts(height: int, width: int) -> None:
    corridor, floor = _split(
        FloorAnalyzer().analyze(Frame(synthetic.aisle_scene(height, width), 2.0))
    )
    assert not corridor.active and corridor.stamp == 2.0
    assert float(corridor.attribute('blocked_fraction')) < 0.05
    assert [o.active for o in floor] == [False]
    assert floor[0].attribute('kind') == 'none'


@pytest.mark.parametrize(('height', 'width'), SIZES)
def test_a_carton_in_the_corridor_obstructs_it(height: int, width: int) -> None:
    analyzer = FloorAnalyzer()
    image = synthetic.aisle_scene(height, width, obstacle=True)
    corridor, _ = _split(analyzer.analyze(Frame(image, 3.0)))
    assert corridor.active, corridor.summary
    assert float(corridor.attribute('blocked_fraction')) >= analyzer.obstruction_fraction
    assert 'colour' in corridor.attribute('cause')
    # The carton's bottom edge is at 420/480 of the height: the lowest blocked row says so.
    assert 0.8 <= float(corridor.attribute('nearest_row')) <= 0.92
    assert corridor.attribute('floor_reference') == 'near_band'


def test_a_spill_is_a_liquid_sheen_where_it_was_drawn() -> None:
    corridor, floor = _split(
        FloorAnalyzer().analyze(Frame(synthetic.aisle_scene(spill=True), 0.0))
    )
    sheen = [o for o in floor if o.active and o.attribute('kind') == 'liquid_sheen']
    assert len(sheen) == 1
    x0, y0, x1, y1 = _box(sheen[0])
    # Drawn as an ellipse centred at (180, 400) with half-axes 70 x 22.
    assert x0 <= 180 <= x1 and y0 <= 400 <= y1
    assert 100 <= x1 - x0 <= 180 and 30 <= y1 - y0 <= 60
    assert not corridor.active  # a spill beside the path does not block it


@pytest.mark.parametrize(('height', 'width'), SIZES)
def test_debris_fragments_are_found_and_counted(height: int, width: int) -> None:
    _, floor = _split(
        FloorAnalyzer().analyze(Frame(synthetic.aisle_scene(height, width, debris=True), 0.0))
    )
    debris = [o for o in floor if o.active and o.attribute('kind') == 'debris']
    assert len(debris) == 4  # four fragments drawn
    x_scale, y_scale = width / 640, height / 480  # the scene is drawn in 640x480 units
    centres = sorted(
        ((x0 + x1) / 2 / x_scale, (y0 + y1) / 2 / y_scale) for x0, y0, x1, y1 in map(_box, debris)
    )
    drawn = sorted([(470, 360), (520, 410), (540, 340), (120, 330)])
    for (x, y), (dx, dy) in zip(centres, drawn, strict=True):
        assert abs(x - dx) <= 6 and abs(y - dy) <= 6


def test_calibrating_on_a_free_corridor_catches_an_object_right_in_front() -> None:
    # A carton covering the bottom of the corridor becomes "the floor" without calibration.
    free = synthetic.aisle_scene(seed=4)
    blocked = free.copy()
    blocked[300:, 200:440] = (40, 90, 150)
    uncalibrated = FloorAnalyzer()
    corridor, _ = _split(uncalibrated.analyze(Frame(blocked, 0.0)))
    calibrated = FloorAnalyzer()
    calibrated.calibrate(Frame(free, 0.0))
    seen, _ = _split(calibrated.analyze(Frame(blocked, 1.0)))
    assert seen.active and seen.attribute('floor_reference') == 'calibrated'
    assert float(seen.attribute('blocked_fraction')) > float(
        corridor.attribute('blocked_fraction')
    )


def test_clutter_with_many_edges_counts_as_obstruction() -> None:
    corridor, _ = _split(FloorAnalyzer().analyze(Frame(synthetic.cluttered_scene(), 0.0)))
    assert corridor.active
    assert 'edges' in corridor.attribute('cause')
    assert float(corridor.attribute('edge_density')) > 0.12


def test_the_corridor_trapezoid_geometry() -> None:
    corners = DRIVE_CORRIDOR.corners(480, 640)
    assert corners[:, 1].min() == round(0.6 * 479) and corners[:, 1].max() == 479
    mask = DRIVE_CORRIDOR.mask(480, 640)
    assert mask[470, 320] and not mask[470, 10] and not mask[100, 320]
    assert DRIVE_CORRIDOR.contains(320, 470, 480, 640)
    assert not DRIVE_CORRIDOR.contains(20, 470, 480, 640)
    with pytest.raises(ValueError, match='top < bottom'):
        Trapezoid(top=0.9, bottom=0.5)
    with pytest.raises(ValueError, match='top_width'):
        Trapezoid(top_width=0.0)


@pytest.mark.parametrize(
    ('parameters', 'message'),
    [
        ({'obstruction_fraction': 0.0}, 'obstruction_fraction'),
        ({'debris_min_area': 0.05, 'debris_max_area': 0.01}, 'must be below debris_max_area'),
        ({'working_width': 32}, 'working_width'),
        ({'colour_distance': 0.0}, 'colour_distance'),
    ],
)
def test_bad_parameters_are_refused(parameters: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FloorAnalyzer(**parameters)  # type: ignore[arg-type]
