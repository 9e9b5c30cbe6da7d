"""Image health on drawn images: dark, over-exposed, covered, blurred, frozen, and the clears."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.perception.vision import synthetic
from muse_supervisor.perception.vision.frames import Frame
from muse_supervisor.perception.vision.health import (
    BLURRED,
    DARK,
    FROZEN,
    OVEREXPOSED,
    UNIFORM,
    ImageHealthAnalyzer,
)

SIZES = [(480, 640), (720, 1280)]


def _verdicts(observations: list[Observation]) -> dict[str, Observation]:
    signals = [o.signal for o in observations]
    assert len(signals) == len(set(signals)), f'one verdict per signal, got {signals}'
    return {o.signal: o for o in observations}


def _number(observation: Observation, key: str) -> float:
    return float(observation.attribute(key))


def _covered_lens(height: int = 480, width: int = 640) -> np.ndarray:
    """A hand over the lens: smooth skin tone, darker towards the corners, sensor noise."""
    rows, columns = np.mgrid[0:height, 0:width]
    radius = np.hypot((columns - width / 2) / (width / 2), (rows - height / 2) / (height / 2))
    shading = np.clip(1.0 - 0.25 * radius, 0, 1)[..., None]
    skin = (shading * np.array([60.0, 90.0, 150.0])).astype(np.uint8)
    return synthetic.add_noise(skin, 3.0)


@pytest.mark.parametrize(('height', 'width'), SIZES)
def test_a_healthy_frame_clears_every_check(height: int, width: int) -> None:
    analyzer = ImageHealthAnalyzer()
    frame = Frame(synthetic.cluttered_scene(height, width), 5.0, 'cam', 'camera/image', 1)
    verdicts = _verdicts(analyzer.analyze(frame))
    assert set(verdicts) == {DARK, OVEREXPOSED, UNIFORM, BLURRED}  # frozen needs a second frame
    for observation in verdicts.values():
        assert observation.active is False, observation.summary
        assert observation.stamp == 5.0
        assert observation.source is EvidenceSource.CAMERA
        assert observation.topic == 'camera/image'
        assert observation.frame_id == 'cam'
        assert observation.producer == analyzer.name
        assert observation.confidence > 0.5
    assert _number(verdicts[BLURRED], 'sharpness') >= 0.7


def test_black_frame_is_dark_and_uniform_and_blur_is_not_judged() -> None:
    black = synthetic.add_noise(np.zeros((480, 640, 3), np.uint8), 2.0)
    verdicts = _verdicts(ImageHealthAnalyzer().analyze(Frame(black, 1.0)))
    assert verdicts[DARK].active and verdicts[DARK].confidence > 0.9
    assert _number(verdicts[DARK], 'dark_fraction') >= 0.99
    assert verdicts[UNIFORM].active
    assert not verdicts[OVEREXPOSED].active
    assert BLURRED not in verdicts  # a black frame says nothing about focus


def test_dark_threshold_is_the_fraction_of_pixels_below_the_level() -> None:
    analyzer = ImageHealthAnalyzer(dark_level=40, dark_fraction=0.85)
    scene = synthetic.cluttered_scene()
    height = scene.shape[0]
    for dark_rows, expected in ((0.80, False), (0.90, True)):
        image = scene.copy()
        image[: int(height * dark_rows)] = 5
        dark = _verdicts(analyzer.analyze(Frame(image, 0.0)))[DARK]
        assert dark.active is expected, dark.summary
        assert (_number(dark, 'dark_fraction') >= 0.85) is expected


def test_a_dim_but_usable_scene_is_not_dark() -> None:
    dim = (synthetic.cluttered_scene().astype(np.float32) * 0.35).astype(np.uint8)
    verdicts = _verdicts(ImageHealthAnalyzer().analyze(Frame(dim, 0.0)))
    assert not verdicts[DARK].active
    assert not verdicts[BLURRED].active


def test_overexposed_frame() -> None:
    washed = np.clip(synthetic.cluttered_scene().astype(np.int16) + 200, 0, 255).astype(np.uint8)
    verdicts = _verdicts(ImageHealthAnalyzer().analyze(Frame(washed, 0.0)))
    assert verdicts[OVEREXPOSED].active
    assert _number(verdicts[OVEREXPOSED], 'saturated_fraction') >= 0.5
    assert not verdicts[DARK].active
    assert BLURRED not in verdicts


def test_covered_lens_is_uniform_though_neither_dark_nor_saturated() -> None:
    verdicts = _verdicts(ImageHealthAnalyzer().analyze(Frame(_covered_lens(), 0.0)))
    assert verdicts[UNIFORM].active, verdicts[UNIFORM].summary
    assert _number(verdicts[UNIFORM], 'detail') < 4.0
    # Its plain spread is larger than the threshold: the shading is not taken as structure.
    assert _number(verdicts[UNIFORM], 'luminance_std') > 4.0
    assert not verdicts[DARK].active and not verdicts[OVEREXPOSED].active
    assert BLURRED not in verdicts


@pytest.mark.parametrize(('height', 'width'), SIZES)
def test_blur_is_seen_at_both_resolutions_with_one_threshold(height: int, width: int) -> None:
    analyzer = ImageHealthAnalyzer()
    for make in (synthetic.cluttered_scene, synthetic.aisle_scene):
        sharp = make(height, width)
        blurred = cv2.GaussianBlur(sharp, (0, 0), 2.0 * width / 640)
        sharp_verdict = _verdicts(analyzer.analyze(Frame(sharp, 0.0)))[BLURRED]
        blurred_verdict = _verdicts(analyzer.analyze(Frame(blurred, 1.0)))[BLURRED]
        assert not sharp_verdict.active, (make.__name__, sharp_verdict.summary)
        assert blurred_verdict.active, (make.__name__, blurred_verdict.summary)
        assert _number(blurred_verdict, 'sharpness') < 0.5 <= _number(sharp_verdict, 'sharpness')
        assert int(blurred_verdict.attribute('measured_width')) == min(width, 640)


def test_blur_of_a_noisy_sensor_is_still_blur() -> None:
    blurred = cv2.GaussianBlur(synthetic.cluttered_scene(), (0, 0), 2.0)
    noisy = synthetic.add_noise(blurred, 3.0, seed=5)
    assert _verdicts(ImageHealthAnalyzer().analyze(Frame(noisy, 0.0)))[BLURRED].active


def test_frozen_stream_of_identical_frames_then_cleared_by_a_live_frame() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=4)
    still = synthetic.cluttered_scene(seed=1)
    frozen = []
    for index in range(6):
        observations = analyzer.analyze(Frame(still, 10.0 + index * 0.1, sequence=index))
        frozen.append(_verdicts(observations).get(FROZEN))
    assert frozen[0] is None  # nothing to compare the first frame with
    assert [o.active for o in frozen[1:] if o] == [False, False, True, True, True]
    assert frozen[3] is not None and frozen[3].attribute('reason') == 'identical'
    assert int(frozen[3].attribute('consecutive_same')) == 4
    live = synthetic.cluttered_scene(seed=2)
    cleared = _verdicts(analyzer.analyze(Frame(live, 10.7, sequence=6)))[FROZEN]
    assert not cleared.active and cleared.stamp == 10.7


def test_a_live_camera_on_a_still_scene_is_not_frozen() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=3)
    scene = synthetic.cluttered_scene(seed=3)
    verdicts = [
        _verdicts(
            analyzer.analyze(Frame(synthetic.add_noise(scene, 1.5, seed), seed, sequence=seed))
        )
        for seed in range(6)
    ]
    assert all(not v[FROZEN].active for v in verdicts[1:])
    assert all(float(v[FROZEN].attribute('mean_difference')) > 0.05 for v in verdicts[1:])


def test_repeated_stamp_on_new_messages_is_frozen_even_when_pixels_change() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=3)
    results = [
        _verdicts(analyzer.analyze(Frame(synthetic.cluttered_scene(seed=i), 7.0, sequence=i)))
        for i in range(3)
    ]
    assert results[2][FROZEN].active
    assert results[2][FROZEN].attribute('reason') == 'stamp_repeated'


def test_the_same_frame_handed_over_twice_is_no_evidence_of_freezing() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=2)
    frame = Frame(synthetic.cluttered_scene(), 3.0, sequence=9)
    analyzer.analyze(frame)
    again = _verdicts(analyzer.analyze(frame))
    assert FROZEN not in again
    assert DARK in again  # the other checks still give their verdicts


def test_a_stamp_going_backwards_restarts_the_frozen_count() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=3)
    still = synthetic.cluttered_scene()
    for index in range(3):
        last = _verdicts(analyzer.analyze(Frame(still, 5.0 + index, sequence=index)))
    assert last[FROZEN].active
    after_reset = _verdicts(analyzer.analyze(Frame(still, 1.0, sequence=3)))
    assert FROZEN not in after_reset  # a bag looped: the history is gone
    assert not _verdicts(analyzer.analyze(Frame(still, 1.1, sequence=4)))[FROZEN].active


def test_uniform_frames_are_not_judged_frozen_by_content() -> None:
    analyzer = ImageHealthAnalyzer(frozen_frames=2)
    grey = np.full((480, 640, 3), 128, np.uint8)
    analyzer.analyze(Frame(grey, 0.0, sequence=0))
    verdicts = _verdicts(analyzer.analyze(Frame(grey, 0.1, sequence=1)))
    assert verdicts[UNIFORM].active
    assert not verdicts[FROZEN].active


@pytest.mark.parametrize(
    ('parameters', 'message'),
    [
        ({'dark_level': 0}, 'dark_level'),
        ({'overexposed_fraction': 1.5}, 'overexposed_fraction'),
        ({'frozen_frames': 1}, 'frozen_frames'),
        ({'blur_min_sharpness': -1.0}, 'must not be negative'),
        ({'uniform_width': 4}, 'uniform_width'),
        ({'default_rate_hz': 0.0}, 'default_rate_hz'),
    ],
)
def test_bad_thresholds_are_refused(parameters: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ImageHealthAnalyzer(**parameters)  # type: ignore[arg-type]


def test_mono_cameras_are_checked_too() -> None:
    """An infrared or mono camera (mono8, mono16) gets the same verdicts as a colour one."""
    gray = cv2.cvtColor(synthetic.cluttered_scene(), cv2.COLOR_BGR2GRAY)
    analyzer = ImageHealthAnalyzer()
    healthy = _verdicts(analyzer.analyze(Frame(gray, 0.0)))
    assert not any(o.active for o in healthy.values())
    dark16 = (gray.astype(np.uint16) * 16).astype(np.uint16)  # 12-bit data in 16-bit words: dim
    verdicts = _verdicts(ImageHealthAnalyzer().analyze(Frame(dark16, 0.0)))
    # 16-bit is read as full range: 12-bit data in the low bits is dark (docs/PERCEPTION.md).
    assert verdicts[DARK].active
    bright16 = (gray.astype(np.uint16) * 256).astype(np.uint16)
    assert not _verdicts(ImageHealthAnalyzer().analyze(Frame(bright16, 0.0)))[DARK].active
