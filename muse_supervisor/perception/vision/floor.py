"""The floor ahead: whether the drive corridor is obstructed and something lies on the floor.

Cheap classical vision for a forward-looking camera, no learned model:

- ``corridor.obstructed``: the drive corridor (a trapezoid at the bottom centre of the image,
  where the floor the robot is about to cross appears) holds too much that does not look like
  floor: pixels whose colour is far from the floor's, or too many edges.
- ``floor.anomaly``: blobs on the floor region that differ from the floor: ``liquid_sheen``
  (patches much brighter than the floor and nearly colourless: the ceiling lights mirrored in a
  spill) or ``debris`` (small patches of another colour: fragments, dropped items, litter).

The floor's appearance is the median colour of a band at the bottom of the corridor, just in
front of the robot (it was driven over, so it is floor), unless :meth:`FloorAnalyzer.calibrate`
was given a frame with a known-free corridor, which is better: an object right in front of the
robot would otherwise become "the floor".

What it can see: things that contrast with a fairly even floor (boxes, pallets, people's legs,
dark debris, bright reflections on grey concrete or vinyl). What it cannot: an obstacle the
colour of the floor with no edges, clear liquid without reflections, anything above the corridor
(overhanging loads), distance (it reports where in the image, not how far). Painted lane lines,
floor markings, strong shadows and light pools from windows read as anomalies or obstruction:
lower the corridor's reach, calibrate on the site's floor, or let the incident rules ask for
persistence. It is evidence for a supervisor, never a safety function.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.perception.vision.analyzer import (
    OPENCV_VERSION,
    camera_observation,
    margin_confidence,
)
from muse_supervisor.perception.vision.frames import Frame

CORRIDOR_OBSTRUCTED = 'corridor.obstructed'
FLOOR_ANOMALY = 'floor.anomaly'


@dataclass(frozen=True)
class Trapezoid:
    """A trapezoid symmetric about a vertical line, in fractions of the image size.

    ``top`` and ``bottom`` are rows (0 = top of the image, 1 = bottom); ``top_width`` and
    ``bottom_width`` the widths of its far and near edges; ``centre`` the column of its axis.
    The default is the drive corridor of a camera looking ahead, mounted on the robot's axis.
    """

    top: float = 0.6
    bottom: float = 1.0
    top_width: float = 0.3
    bottom_width: float = 0.7
    centre: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.top < self.bottom <= 1.0:
            raise ValueError(
                f'need 0 <= top < bottom <= 1, got top={self.top} bottom={self.bottom}'
            )
        for name in ('top_width', 'bottom_width', 'centre'):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in (0, 1], got {getattr(self, name)}')

    def corners(self, height: int, width: int) -> npt.NDArray[np.int32]:
        """Corner pixels, clockwise from the far left: shape (4, 2), (x, y)."""
        top_y, bottom_y = self.top * (height - 1), self.bottom * (height - 1)
        axis = self.centre * (width - 1)
        half_top, half_bottom = self.top_width * width / 2, self.bottom_width * width / 2
        points = [
            (axis - half_top, top_y),
            (axis + half_top, top_y),
            (axis + half_bottom, bottom_y),
            (axis - half_bottom, bottom_y),
        ]
        return np.asarray(np.clip(np.round(points), 0, [width - 1, height - 1]), np.int32)

    def mask(self, height: int, width: int) -> npt.NDArray[np.bool_]:
        """The pixels inside, as a boolean image."""
        canvas = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(canvas, self.corners(height, width), 1)
        return canvas.astype(bool)

    def contains(self, x: float, y: float, height: int, width: int) -> bool:
        """Whether pixel ``(x, y)`` lies inside (its border counts as inside)."""
        contour = self.corners(height, width).reshape(-1, 1, 2).astype(np.float32)
        return bool(cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0)


# How much "nothing found on the floor" is worth: colour blobs miss what matches the floor.
_CLEAR_CONFIDENCE = 0.6

DRIVE_CORRIDOR = Trapezoid()
"""The default drive corridor (bottom 40 % of the image, 70 % wide at the bottom)."""
FLOOR_REGION = Trapezoid(top=0.5, top_width=0.6, bottom_width=1.0)
"""The default floor region searched for anomalies (bottom half, widening to the full width)."""


@dataclass
class FloorAnalyzer:
    """Drive-corridor obstruction and floor anomalies from colour against the floor's own.

    Parameters (defaults tuned on drawn aisle scenes; a site should check them on its floor):

    - ``corridor`` and ``floor_region``: where to look (:data:`DRIVE_CORRIDOR`,
      :data:`FLOOR_REGION`).
    - ``working_width`` (320): frames are shrunk to this width first; the checks are about
      regions, not detail, and this keeps the cost near a millisecond.
    - ``reference_band`` (0.12): the bottom fraction of the corridor's height whose median colour
      is the floor's, when not calibrated.
    - ``colour_distance`` (20.0): a pixel is "not floor" when its colour differs from the floor's
      by more than this CIE76 delta-E (L*a*b*; about 2.3 is a just-noticeable difference).
    - ``obstruction_fraction`` (0.2): the corridor is obstructed when at least this fraction of it
      is not floor.
    - ``max_edge_density`` (0.12): ... or when more than this fraction of its pixels are edges
      (Canny 50/150): clutter the colour test misses.
    - ``debris_min_area`` (0.0002: 15 pixels at 320x240) and ``debris_max_area`` (0.02): the
      size of a debris blob, as a fraction of the image; smaller is noise, larger is the
      corridor test's business.
    - ``sheen_brightness`` (45) and ``sheen_max_saturation`` (40): a liquid-sheen pixel is at
      least this much brighter (HSV value, 0-255) than the floor and at most this saturated;
      ``sheen_min_area`` (0.002): the smallest sheen patch, as a fraction of the image.
    - ``max_anomalies`` (5): at most this many ``floor.anomaly`` observations a frame, the
      largest first.
    """

    corridor: Trapezoid = DRIVE_CORRIDOR
    floor_region: Trapezoid = FLOOR_REGION
    working_width: int = 320
    reference_band: float = 0.12
    colour_distance: float = 20.0
    obstruction_fraction: float = 0.2
    max_edge_density: float = 0.12
    debris_min_area: float = 0.0002
    debris_max_area: float = 0.02
    sheen_brightness: float = 45.0
    sheen_max_saturation: float = 40.0
    sheen_min_area: float = 0.002
    max_anomalies: int = 5
    default_rate_hz: float = 2.0
    _calibrated_lab: npt.NDArray[np.float32] | None = field(default=None, init=False, repr=False)
    _calibrated_value: float | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        fractions = (
            'reference_band',
            'obstruction_fraction',
            'max_edge_density',
            'debris_min_area',
            'debris_max_area',
            'sheen_min_area',
        )
        for name in fractions:
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be a fraction in (0, 1], got {getattr(self, name)}')
        if self.debris_min_area >= self.debris_max_area:
            raise ValueError(
                f'debris_min_area ({self.debris_min_area}) must be below debris_max_area '
                f'({self.debris_max_area})'
            )
        if self.working_width < 64:
            raise ValueError(f'working_width must be at least 64 pixels, got {self.working_width}')
        if self.colour_distance <= 0 or self.max_anomalies < 1 or self.default_rate_hz <= 0:
            raise ValueError(
                'colour_distance and default_rate_hz must be positive and max_anomalies at least '
                f'1, got {self.colour_distance}, {self.default_rate_hz}, {self.max_anomalies}'
            )

    @property
    def name(self) -> str:
        """Producer name: classical OpenCV arithmetic, versioned with OpenCV."""
        return f'floor:opencv-{OPENCV_VERSION}'

    def calibrate(self, frame: Frame) -> None:
        """Learn the floor's appearance from ``frame``, whose whole corridor must be free floor."""
        bgr = self._working_image(frame)
        lab, hsv = _lab(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        inside = self.corridor.mask(*bgr.shape[:2])
        self._calibrated_lab = np.median(lab[inside], axis=0).astype(np.float32)
        self._calibrated_value = float(np.median(hsv[..., 2][inside]))

    def analyze(self, frame: Frame) -> list[Observation]:
        """One ``corridor.obstructed`` verdict and the floor anomalies (or their absence)."""
        bgr = self._working_image(frame)
        height, width = bgr.shape[:2]
        lab = _lab(bgr)
        hsv = np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV), np.uint8)
        corridor = self.corridor.mask(height, width)
        floor_lab, floor_value, reference = self._floor_reference(lab, hsv, corridor)
        distance = np.sqrt(np.square(lab - floor_lab).sum(axis=2))
        foreign = distance > self.colour_distance
        edges = cv2.Canny(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), 50, 150) > 0
        observations = [
            self._corridor(frame, corridor, foreign, edges, distance, reference, height)
        ]
        observations += self._anomalies(
            frame,
            self.floor_region.mask(height, width),
            foreign,
            hsv,
            floor_value,
            distance,
            frame.width / width,
        )
        return observations

    def _working_image(self, frame: Frame) -> npt.NDArray[np.uint8]:
        bgr = frame.bgr8
        if frame.width > self.working_width:
            rows = max(1, round(frame.height * self.working_width / frame.width))
            bgr = np.asarray(
                cv2.resize(bgr, (self.working_width, rows), interpolation=cv2.INTER_AREA),
                np.uint8,
            )
        # A light blur: the checks compare regions, and sensor noise should not speckle them.
        return np.asarray(cv2.GaussianBlur(bgr, (5, 5), 0), np.uint8)

    def _floor_reference(
        self,
        lab: npt.NDArray[np.float32],
        hsv: npt.NDArray[np.uint8],
        corridor: npt.NDArray[np.bool_],
    ) -> tuple[npt.NDArray[np.float32], float, str]:
        if self._calibrated_lab is not None and self._calibrated_value is not None:
            return self._calibrated_lab, self._calibrated_value, 'calibrated'
        height = corridor.shape[0]
        band_top = round(
            height
            * (
                self.corridor.bottom
                - self.reference_band * (self.corridor.bottom - self.corridor.top)
            )
        )
        band = corridor.copy()
        band[:band_top] = False
        floor_lab = np.median(lab[band], axis=0).astype(np.float32)
        return floor_lab, float(np.median(hsv[..., 2][band])), 'near_band'

    def _corridor(
        self,
        frame: Frame,
        corridor: npt.NDArray[np.bool_],
        foreign: npt.NDArray[np.bool_],
        edges: npt.NDArray[np.bool_],
        distance: npt.NDArray[np.float32],
        reference: str,
        height: int,
    ) -> Observation:
        area = int(corridor.sum())
        blocked = foreign & corridor
        blocked_fraction = float(blocked.sum()) / area
        edge_density = float((edges & corridor).sum()) / area
        by_colour = blocked_fraction >= self.obstruction_fraction
        by_edges = edge_density > self.max_edge_density
        active = by_colour or by_edges
        rows = np.flatnonzero(blocked.sum(axis=1) >= 0.25 * np.maximum(corridor.sum(axis=1), 1))
        nearest_row = float(rows.max()) / (height - 1) if rows.size else -1.0
        if by_colour or not active:
            confidence = margin_confidence(
                blocked_fraction, self.obstruction_fraction, self.obstruction_fraction
            )
        else:
            confidence = margin_confidence(
                edge_density, self.max_edge_density, self.max_edge_density
            )
        cause = ' and '.join(
            name for name, hit in (('colour', by_colour), ('edges', by_edges)) if hit
        )
        summary = (
            f'drive corridor obstructed ({cause}): {blocked_fraction:.0%} not floor, '
            f'edge density {edge_density:.2f}'
            if active
            else f'drive corridor clear: {blocked_fraction:.0%} not floor, '
            f'edge density {edge_density:.2f}'
        )
        return camera_observation(
            frame,
            producer=self.name,
            signal=CORRIDOR_OBSTRUCTED,
            summary=summary,
            active=active,
            confidence=confidence,
            attributes={
                'blocked_fraction': blocked_fraction,
                'edge_density': edge_density,
                'cause': cause or 'none',
                'nearest_row': nearest_row,
                'max_colour_distance': float(distance[corridor].max()),
                'floor_reference': reference,
                'threshold': self.obstruction_fraction,
            },
        )

    def _anomalies(
        self,
        frame: Frame,
        region: npt.NDArray[np.bool_],
        foreign: npt.NDArray[np.bool_],
        hsv: npt.NDArray[np.uint8],
        floor_value: float,
        distance: npt.NDArray[np.float32],
        scale: float,
    ) -> list[Observation]:
        image_area = float(region.size)
        value = hsv[..., 2].astype(np.float32)
        sheen = (
            region
            & (value >= floor_value + self.sheen_brightness)
            & (hsv[..., 1] <= self.sheen_max_saturation)
        )
        debris = region & foreign & ~sheen
        kernel = np.ones((3, 3), np.uint8)
        found: list[tuple[float, str, tuple[int, int, int, int], float]] = []
        for kind, mask, smallest, largest in (
            ('liquid_sheen', sheen, self.sheen_min_area, 1.0),
            ('debris', debris, self.debris_min_area, self.debris_max_area),
        ):
            opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
            count, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
            for label in range(1, count):
                x, y, w, h, pixels = (int(v) for v in stats[label])
                fraction = pixels / image_area
                if smallest <= fraction <= largest:
                    contrast = float(distance[labels == label].mean())
                    found.append((fraction, kind, (x, y, w, h), contrast))
        found.sort(key=lambda item: item[0], reverse=True)
        observations = []
        for fraction, kind, (x, y, w, h), contrast in found[: self.max_anomalies]:
            box = [[x * scale, y * scale], [(x + w) * scale, (y + h) * scale]]
            threshold = self.sheen_min_area if kind == 'liquid_sheen' else self.debris_min_area
            observations.append(
                camera_observation(
                    frame,
                    producer=self.name,
                    signal=FLOOR_ANOMALY,
                    summary=f'floor anomaly ({kind}): {fraction:.2%} of the image',
                    active=True,
                    confidence=margin_confidence(fraction, threshold, 4 * threshold),
                    attributes={
                        'kind': kind,
                        'area_fraction': fraction,
                        'box': box,
                        'colour_distance': contrast,
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
                signal=FLOOR_ANOMALY,
                summary='floor clear: no sheen or debris blob in the floor region',
                active=False,
                confidence=_CLEAR_CONFIDENCE,
                attributes={'kind': 'none', 'count': 0},
            )
        ]


def _lab(bgr: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """CIE L*a*b* in its own units (OpenCV's 8-bit Lab scaled back: L 0-100, a and b signed)."""
    lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab
