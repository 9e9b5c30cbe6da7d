"""The HOG person analyzer on drawn standing figures.

HOG is a pedestrian detector trained on photographs; no photograph of a person ships here, so
these tests check what it does on a drawn upright silhouette (head, torso, arms, legs), which it
detects: the plumbing (boxes scaled back to the frame, the corridor test, the clear verdict),
not its accuracy on real people. ``docs/PERCEPTION.md`` states its limits.
"""

from __future__ import annotations

import numpy as np
import pytest

from muse_supervisor.domain.evidence import EvidenceSource
from muse_supervisor.perception.vision import synthetic
from muse_supervisor.perception.vision.frames import Frame
from muse_supervisor.perception.vision.person import PERSON_DETECTED, PersonAnalyzer


def _box(text: str) -> tuple[float, float, float, float]:
    (x0, y0), (x1, y1) = (tuple(map(float, point.split(','))) for point in text.split())
    return x0, y0, x1, y1


@pytest.mark.parametrize(('height', 'width', 'figure'), [(480, 640, 300), (720, 1280, 500)])
def test_a_standing_figure_in_the_path_is_detected_in_the_corridor(
    height: int, width: int, figure: int
) -> None:
    analyzer = PersonAnalyzer()
    image = synthetic.standing_figure(height, width, figure_height=figure)
    observations = analyzer.analyze(Frame(image, 9.5, topic='front'))
    assert len(observations) == 1
    person = observations[0]
    assert person.signal == PERSON_DETECTED and person.active
    assert person.source is EvidenceSource.CAMERA and person.stamp == 9.5
    assert float(person.attribute('score')) >= analyzer.min_score
    assert person.confidence > 0.6
    assert person.attribute('in_corridor') == 'true'
    x0, y0, x1, y1 = _box(person.attribute('box'))
    top = (height - figure) / 2
    # The box is in the frame's own pixels (scaled back from the shrunk image) around the figure.
    assert x0 < width / 2 < x1
    assert y0 <= top + 10 and y1 >= top + figure - 40
    assert y1 - y0 <= 1.6 * figure


def test_a_figure_at_the_side_is_outside_the_corridor() -> None:
    observations = PersonAnalyzer().analyze(Frame(synthetic.standing_figure(centre_x=80), 0.0))
    assert [o.active for o in observations] == [True]
    assert observations[0].attribute('in_corridor') == 'false'
    x0, _, x1, _ = _box(observations[0].attribute('box'))
    assert x0 < 80 < x1


def test_no_figure_gives_a_low_confidence_clear() -> None:
    for image in (
        synthetic.aisle_scene(),
        synthetic.cluttered_scene(),
        np.zeros((480, 640, 3), np.uint8),
    ):
        observations = PersonAnalyzer(clear_confidence=0.4).analyze(Frame(image, 0.0))
        assert [(o.active, o.confidence) for o in observations] == [(False, 0.4)]


def test_a_higher_threshold_drops_a_weak_detection() -> None:
    image = synthetic.standing_figure()
    score = float(PersonAnalyzer().analyze(Frame(image, 0.0))[0].attribute('score'))
    strict = PersonAnalyzer(min_score=score + 0.5).analyze(Frame(image, 0.0))
    assert [o.active for o in strict] == [False]


def test_a_frame_smaller_than_the_detection_window_is_not_judged() -> None:
    assert PersonAnalyzer().analyze(Frame(np.zeros((100, 60, 3), np.uint8), 0.0)) == []


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match='scale > 1'):
        PersonAnalyzer(scale=1.0)
    with pytest.raises(ValueError, match='clear_confidence'):
        PersonAnalyzer(clear_confidence=1.5)
