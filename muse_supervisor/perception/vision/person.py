"""People in view, with OpenCV's HOG pedestrian detector: the best detector that runs offline here.

``person.detected``: one observation per person found, with the box, the detector's score and
whether the person's feet (the bottom centre of the box) are inside the drive corridor
(``in_corridor``: the camera's stand-in for a protective zone when no safety scanner provides
one). With nobody found: one inactive observation, with the low confidence a HOG miss deserves.

Why HOG: no machine here reaches a model hub, so a detector is usable only if a registry package
carries its weights. OpenCV 4.x ships the Dalal-Triggs HOG+SVM
people detector inside its wheel. The registry was searched for a better detector with weights
inside a wheel (2026-12, see ``docs/PERCEPTION.md``): the only candidates found ship
Ultralytics YOLO weights under AGPL-3.0 (a licence that would bind this Apache-2.0 stack) that
were trained for another task (fall detection, pose) or need ``ultralytics`` to load (whose
torchvision breaks this environment's transformers).

What HOG can and cannot do: it finds upright, mostly unoccluded, full-body people at least 64x128
pixels in the (shrunk) image; it misses people sitting, crouching, partly hidden behind a load,
seen from above or very close (only legs in view), and is fooled by upright clutter. It is
evidence for a supervisor, NEVER a safety function: the protective-zone signal of a certified
safety scanner always takes precedence (DOMAIN.md invariant 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.vision.analyzer import (
    OPENCV_VERSION,
    camera_observation,
)
from muse_supervisor.perception.vision.floor import DRIVE_CORRIDOR, Trapezoid
from muse_supervisor.perception.vision.frames import Frame

PERSON_DETECTED = 'person.detected'
_WINDOW = (64, 128)  # the HOG people detector's window: the smallest person it can see


@dataclass
class PersonAnalyzer:
    """``person.detected`` from HOG + linear SVM (OpenCV's default people detector).

    Its parameters:

    - ``min_score`` (0.5): the SVM margin a window needs (0 is the decision boundary; the drawn
      figures of the tests score 1.4-3);
    - ``working_width`` (640): wider frames are shrunk to this width, which bounds the cost (it
      grows with the pixel count); a person must then be at least 128 pixels tall in the shrunk
      image (256 rows of a 1280x720 frame);
    - ``win_stride`` (8) and ``scale`` (1.05): the window step and the pyramid factor (larger is
      faster and misses more);
    - ``corridor``: the zone that ``in_corridor`` refers to (the drive corridor by default);
    - ``clear_confidence`` (0.4): the confidence of a "nobody seen" verdict (HOG misses people);
    - ``default_rate_hz`` (2.0).

    Confidence of a detection: ``1 - exp(-score)`` (0.39 at the default threshold, 0.86 at a
    score of 2): monotone in the SVM margin, not a calibrated probability.
    """

    min_score: float = 0.5
    working_width: int = 640
    win_stride: int = 8
    scale: float = 1.05
    corridor: Trapezoid = DRIVE_CORRIDOR
    clear_confidence: float = 0.4
    default_rate_hz: float = 2.0
    _hog: cv2.HOGDescriptor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.working_width < _WINDOW[0] or self.win_stride < 1 or self.scale <= 1.0:
            raise ValueError(
                f'need working_width >= {_WINDOW[0]}, win_stride >= 1 and scale > 1, got '
                f'{self.working_width}, {self.win_stride}, {self.scale}'
            )
        if not 0.0 <= self.clear_confidence <= 1.0 or self.default_rate_hz <= 0:
            raise ValueError(
                'clear_confidence must be in [0, 1] and default_rate_hz positive, got '
                f'{self.clear_confidence} and {self.default_rate_hz}'
            )
        self._hog = cv2.HOGDescriptor()
        weights = np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32)
        self._hog.setSVMDetector(weights)

    @property
    def name(self) -> str:
        """Producer name: the HOG people detector of this OpenCV."""
        return f'person:hog-opencv-{OPENCV_VERSION}'

    def analyze(self, frame: Frame) -> list[Observation]:
        """One ``person.detected`` per person, or one inactive verdict (none for tiny frames)."""
        image = frame.bgr8
        factor = 1.0
        if frame.width > self.working_width:
            factor = self.working_width / frame.width
            size = (self.working_width, max(1, round(frame.height * factor)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
        if image.shape[1] < _WINDOW[0] or image.shape[0] < _WINDOW[1]:
            return []  # smaller than one detection window: cannot be judged
        stride = (self.win_stride, self.win_stride)
        boxes, scores = self._hog.detectMultiScale(
            image, hitThreshold=0.0, winStride=stride, padding=(8, 8), scale=self.scale
        )
        found = [
            (tuple(float(v) / factor for v in box), float(score))
            for box, score in zip(np.asarray(boxes).reshape(-1, 4), np.ravel(scores), strict=True)
            if float(score) >= self.min_score
        ]
        found.sort(key=lambda item: item[1], reverse=True)
        observations = []
        for (x, y, w, h), score in found:
            feet = (x + w / 2, min(y + h, frame.height - 1))
            inside = self.corridor.contains(feet[0], feet[1], frame.height, frame.width)
            where = 'in the drive corridor' if inside else 'outside the drive corridor'
            observations.append(
                camera_observation(
                    frame,
                    producer=self.name,
                    signal=PERSON_DETECTED,
                    summary=f'person detected {where} (HOG score {score:.2f})',
                    active=True,
                    confidence=1.0 - math.exp(-score),
                    attributes={
                        'box': [[x, y], [x + w, y + h]],
                        'score': score,
                        'in_corridor': inside,
                        'count': len(found),
                    },
                )
            )
        if observations:
            return observations
        return [
            camera_observation(
                frame,
                producer=self.name,
                signal=PERSON_DETECTED,
                summary='no person detected (HOG: misses sitting, occluded or close people)',
                active=False,
                confidence=self.clear_confidence,
                attributes={'count': 0, 'in_corridor': False},
            )
        ]
