"""The simulated camera shows what the timeline puts in front of the robot, and hides the rest."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.sim.camera import CameraModel, render
from muse_supervisor.sim.physics import Circle
from muse_supervisor.sim.robot import Label, Panel, Scene
from muse_supervisor.sim.world import World, load_world

REPO = Path(__file__).resolve().parents[2]
CAMERA = CameraModel(640, 480)
AT_CHARGER = Pose2D(0.0, 0.0, 0.0)  # looking down the central aisle (+x)
BOX = np.array([150, 104, 58])
SLAT = (BOX * 0.7).astype(np.uint8).astype(int)
VEST = np.array([250, 200, 20])


@pytest.fixture(scope='module')
def world() -> World:
    return load_world(REPO / 'config' / 'maps' / 'warehouse_world.yaml')


def _share(image: np.ndarray, colour: np.ndarray, rows: slice, columns: slice) -> float:
    """Fraction of the region's pixels within a few levels of ``colour`` (texture lines aside)."""
    region = image[rows, columns].astype(int)
    return float((np.abs(region - colour).max(axis=2) <= 4).mean())


def test_an_image_is_rgb_of_the_configured_size_and_the_same_for_the_same_world(
    world: World,
) -> None:
    small = CameraModel(320, 240)
    image = render(world.map, AT_CHARGER, Scene(), small)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    assert np.array_equal(image, render(world.map, AT_CHARGER, Scene(), small))


def test_a_pallet_ahead_fills_the_drive_corridor_and_is_gone_when_removed(world: World) -> None:
    corridor = (slice(300, 420), slice(250, 390))  # below the horizon, centre
    pallet = Scene(obstacles=(Circle('pallet', 1.5, 0.0, 0.4),))
    with_pallet = render(world.map, AT_CHARGER, pallet, CAMERA)
    without = render(world.map, AT_CHARGER, Scene(), CAMERA)
    assert _share(with_pallet, BOX, *corridor) > 0.6
    assert _share(without, BOX, *corridor) == 0.0


def test_nearer_things_look_bigger(world: World) -> None:
    def width(distance: float) -> int:
        scene = Scene(obstacles=(Circle('pallet', distance, 0.0, 0.3),))
        row = render(world.map, AT_CHARGER, scene, CAMERA)[300].astype(int)
        boards, slats = np.abs(row - BOX).max(axis=1) <= 4, np.abs(row - SLAT).max(axis=1) <= 4
        return int((boards | slats).sum())

    near, far = width(1.5), width(3.0)
    # Pinhole: the width in pixels halves when the distance doubles (within a few pixels).
    assert near == pytest.approx(2 * far, abs=6)
    assert near == pytest.approx(CAMERA.focal * 0.6 / 1.5, abs=8)


def test_a_person_in_view_is_drawn_and_one_behind_a_shelf_is_hidden(world: World) -> None:
    everything = (slice(0, 480), slice(0, 640))
    in_aisle = Scene(people=(Circle('picker', 3.0, 0.3, 0.8),))
    behind_shelf = Scene(people=(Circle('picker', 4.0, 2.2, 0.8),))  # shelf row y 1.0..1.75
    assert _share(render(world.map, AT_CHARGER, in_aisle, CAMERA), VEST, *everything) > 0.01
    assert _share(render(world.map, AT_CHARGER, behind_shelf, CAMERA), VEST, *everything) == 0


def test_something_behind_the_camera_is_not_seen(world: World) -> None:
    behind = Scene(obstacles=(Circle('pallet', -1.0, 0.0, 0.4),))
    image = render(world.map, AT_CHARGER, behind, CAMERA)
    assert np.array_equal(image, render(world.map, AT_CHARGER, Scene(), CAMERA))


def test_a_qr_label_in_front_decodes_to_its_payload(world: World) -> None:
    scene = Scene(labels=(Label('tote', 1.0, 0.0, math.pi, 'TOTE-17'),))
    image = render(world.map, AT_CHARGER, scene, CAMERA)
    payload, *_ = cv2.QRCodeDetector().detectAndDecode(image)
    assert payload == 'TOTE-17'


def test_a_spill_darkens_the_floor_where_it_lies(world: World) -> None:
    floor = (slice(400, 480), slice(200, 440))
    spill = Scene(spills=(Circle('oil', 1.0, 0.0, 0.4),))

    def dark(image: np.ndarray) -> float:
        return float((image[floor].max(axis=2) < 60).mean())

    assert dark(render(world.map, AT_CHARGER, spill, CAMERA)) > 0.3
    assert dark(render(world.map, AT_CHARGER, Scene(), CAMERA)) == 0.0


def test_panel_text_is_readable_by_ocr(world: World) -> None:
    from rapidocr import RapidOCR

    scene = Scene(panels=(Panel('drive', 2.5, 0.0, math.pi, 'MOTOR 2 OVERCURRENT', 0.9, 0.55),))
    image = render(world.map, AT_CHARGER, scene, CAMERA)
    result = RapidOCR()(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    text = ' '.join(result.txts or ())
    assert 'MOTOR' in text and 'OVERCURRENT' in text, text


@pytest.mark.parametrize(('noise', 'frozen'), [(0.0, True), (2.0, False)])
def test_sensor_noise_keeps_a_still_camera_from_reading_as_frozen(
    world: World, noise: float, frozen: bool
) -> None:
    from dataclasses import replace

    from muse_supervisor.perception.vision import FROZEN
    from muse_supervisor.perception.vision.frames import Frame
    from muse_supervisor.perception.vision.health import ImageHealthAnalyzer

    camera, health = replace(CAMERA, noise=noise), ImageHealthAnalyzer()
    rng = np.random.default_rng(7)
    verdicts = []
    for sequence in range(8):  # a robot standing still
        image = render(world.map, AT_CHARGER, Scene(), camera, rng)
        frame = Frame(
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR), 1.0 + sequence / 10, sequence=sequence
        )
        verdicts += [o.active for o in health.analyze(frame) if o.signal == FROZEN]
    assert verdicts and verdicts[-1] is frozen
