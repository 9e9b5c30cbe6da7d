"""Image health: whether the camera gives a picture the analyzers (and a person) can use.

Five checks on each analysed frame, all classical and cheap (well under a few milliseconds at
640x480; see ``bench/analyzer_cost.py``):

- ``image.dark``: most pixels below a luminance level (lens cap, lights off, dead sensor);
- ``image.overexposed``: most pixels saturated (sun in the lens, auto-exposure gone wrong);
- ``image.uniform``: almost no structure at a coarse scale once slow shading is taken out (lens
  covered by a hand, tape or dirt; condensation; a sensor sending one grey);
- ``image.blurred``: soft edges, from the variance of the Laplacian normalised by the gradient
  energy, on a frame that is neither dark, over-exposed nor uniform (those would read as
  "blurred" without being it);
- ``image.frozen``: the stream repeats itself: the same content, or the same header stamp, over
  several consecutive analysed frames (a driver stuck re-sending its last buffer).

What it cannot tell: a sharp picture of the wrong thing (a camera knocked to face the ceiling); a
plain wall filling the view reads as uniform; a perfectly still scene from a camera with no noise
at all would read as frozen (raise ``frozen_frames`` or set ``frozen_max_mean_difference`` to 0).
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

DARK = 'image.dark'
OVEREXPOSED = 'image.overexposed'
UNIFORM = 'image.uniform'
BLURRED = 'image.blurred'
FROZEN = 'image.frozen'


@dataclass
class ImageHealthAnalyzer:
    """Dark, over-exposed, uniform (covered), blurred and frozen checks, one verdict each.

    Thresholds (all measured on the frame's 8-bit luminance):

    - ``dark_level`` (40 of 255) and ``dark_fraction`` (0.85): dark when at least that fraction
      of pixels is below that level. A dim but usable warehouse aisle keeps well under it.
    - ``bright_level`` (245) and ``overexposed_fraction`` (0.5): over-exposed when at least half
      the pixels are saturated.
    - ``uniform_max_detail`` (4.0 grey levels): uniform when the image, shrunk to
      ``uniform_width`` (80) pixels wide, varies by less than that around its own smooth shading
      (standard deviation of the image minus a Gaussian blur of it, sigma 6 pixels). Shrinking
      averages sensor noise away; removing the shading keeps the dark corners of a covered lens
      (vignetting) from counting as structure. Healthy scenes here measure 13 and more.
    - ``blur_min_sharpness`` (0.5): blurred when the image's Laplacian energy divided by its
      gradient energy is below it (after shrinking to at most ``working_width``, 640, pixels wide
      and a 3x3 smoothing against sensor noise). A plain variance of the Laplacian swings tenfold
      with what the scene holds (a bare floor against a cluttered shelf); the ratio measures how
      wide the edges are whatever their number and contrast (it falls as 1/sigma^2 of a blur):
      drawn scenes measure 0.76-1.3 sharp, 0.33-0.47 at a Gaussian blur of sigma 1.5 pixels
      (at 640 wide), 0.27-0.33 at sigma 2, at 640x480 and 1280x720 alike. The shrinking makes it
      comparable across resolutions; narrower frames are measured as they are.
    - ``frozen_frames`` (5) and ``frozen_max_mean_difference`` (0.05 grey levels): frozen when
      that many consecutive analysed frames have a mean absolute difference to their predecessor
      at most that (0 means byte-identical only), or carry the same header stamp. Content is not
      compared on uniform frames (a covered lens repeats by nature; ``image.uniform`` says so).
      A frame whose sequence and stamp equal the previous one is the same frame handed over twice
      and gives no frozen verdict; a stamp going backwards (a bag looping, a simulation reset)
      starts the count again.

    Stateful (the frozen check): use one instance per camera stream.
    """

    dark_level: int = 40
    dark_fraction: float = 0.85
    bright_level: int = 245
    overexposed_fraction: float = 0.5
    uniform_max_detail: float = 4.0
    uniform_width: int = 80
    blur_min_sharpness: float = 0.5
    working_width: int = 640
    frozen_frames: int = 5
    frozen_max_mean_difference: float = 0.05
    default_rate_hz: float = 5.0
    _previous_gray: npt.NDArray[np.uint8] | None = field(default=None, init=False, repr=False)
    _previous_stamp: float | None = field(default=None, init=False, repr=False)
    _previous_sequence: int | None = field(default=None, init=False, repr=False)
    _repeated_content: int = field(default=0, init=False, repr=False)
    _repeated_stamp: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        for name in ('dark_level', 'bright_level'):
            if not 0 < getattr(self, name) < 256:
                raise ValueError(
                    f'{name} must be a grey level in 1..255, got {getattr(self, name)}'
                )
        for name in ('dark_fraction', 'overexposed_fraction'):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f'{name} must be in (0, 1], got {getattr(self, name)}')
        if self.frozen_frames < 2:
            raise ValueError(f'frozen_frames must be at least 2, got {self.frozen_frames}')
        if self.uniform_width < 8 or self.working_width < 64:
            raise ValueError(
                f'uniform_width must be >= 8 and working_width >= 64 pixels, got '
                f'{self.uniform_width} and {self.working_width}'
            )
        thresholds = (self.uniform_max_detail, self.blur_min_sharpness)
        if min(*thresholds, self.frozen_max_mean_difference) < 0:
            raise ValueError(
                'uniform_max_detail, blur_min_sharpness and frozen_max_mean_difference must not '
                f'be negative, got {thresholds} and {self.frozen_max_mean_difference}'
            )
        if self.default_rate_hz <= 0:
            raise ValueError(f'default_rate_hz must be positive, got {self.default_rate_hz}')

    @property
    def name(self) -> str:
        """Producer name: the checks are OpenCV arithmetic, versioned with OpenCV."""
        return f'image_health:opencv-{OPENCV_VERSION}'

    def reset(self) -> None:
        """Forget the stream's history (a new camera, a restarted driver)."""
        self._previous_gray = None
        self._previous_stamp = None
        self._previous_sequence = None
        self._repeated_content = 0
        self._repeated_stamp = 0

    def analyze(self, frame: Frame) -> list[Observation]:
        """One verdict per check that can be judged on ``frame`` (see the class docstring)."""
        gray = _shrink_to_width(frame.gray8, self.working_width)
        observations = [self._dark(frame, gray), self._overexposed(frame, gray)]
        uniform = self._uniform(frame, gray)
        observations.append(uniform)
        unusable = uniform.active or observations[0].active or observations[1].active
        if not unusable:
            observations.append(self._blurred(frame, gray))
        frozen = self._frozen(frame, gray, content_judged=not uniform.active)
        if frozen is not None:
            observations.append(frozen)
        return observations

    def _observe(
        self,
        frame: Frame,
        signal: str,
        active: bool,
        confidence: float,
        summary: str,
        **attributes: float | int | str | bool,
    ) -> Observation:
        return camera_observation(
            frame,
            producer=self.name,
            signal=signal,
            summary=summary,
            active=active,
            confidence=confidence,
            attributes=attributes,
        )

    def _dark(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> Observation:
        fraction = float(np.count_nonzero(gray < self.dark_level)) / gray.size
        active = fraction >= self.dark_fraction
        span = (1.0 - self.dark_fraction) if active else self.dark_fraction
        verdict = 'dark' if active else 'not dark'
        return self._observe(
            frame,
            DARK,
            active,
            margin_confidence(fraction, self.dark_fraction, span),
            f'image {verdict}: {fraction:.0%} of pixels below {self.dark_level}/255',
            dark_fraction=fraction,
            mean_luminance=float(gray.mean()),
            threshold=self.dark_fraction,
        )

    def _overexposed(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> Observation:
        fraction = float(np.count_nonzero(gray >= self.bright_level)) / gray.size
        active = fraction >= self.overexposed_fraction
        span = (1.0 - self.overexposed_fraction) if active else self.overexposed_fraction
        verdict = 'over-exposed' if active else 'not over-exposed'
        return self._observe(
            frame,
            OVEREXPOSED,
            active,
            margin_confidence(fraction, self.overexposed_fraction, span),
            f'image {verdict}: {fraction:.0%} of pixels at or above {self.bright_level}/255',
            saturated_fraction=fraction,
            mean_luminance=float(gray.mean()),
            threshold=self.overexposed_fraction,
        )

    def _uniform(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> Observation:
        coarse = _shrink_to_width(gray, self.uniform_width).astype(np.float32)
        detail = float((coarse - cv2.GaussianBlur(coarse, (0, 0), 6.0)).std())
        active = detail < self.uniform_max_detail
        verdict = 'uniform (lens covered or occluded?)' if active else 'has structure'
        return self._observe(
            frame,
            UNIFORM,
            active,
            margin_confidence(detail, self.uniform_max_detail, self.uniform_max_detail),
            f'image {verdict}: coarse detail {detail:.1f} grey levels',
            detail=detail,
            luminance_std=float(coarse.std()),
            threshold=self.uniform_max_detail,
        )

    def _blurred(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> Observation:
        smooth = cv2.GaussianBlur(gray, (3, 3), 0).astype(np.float32)
        laplacian = cv2.Laplacian(smooth, cv2.CV_32F)
        # Sobel 3x3 weighs the central difference by 8: divide to get grey levels per pixel.
        gradient_x = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gradient_y = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        gradient_energy = float(np.square(gradient_x).sum() + np.square(gradient_y).sum())
        sharpness = float(np.square(laplacian).sum()) / max(gradient_energy, 1e-6)
        active = sharpness < self.blur_min_sharpness
        verdict = 'blurred' if active else 'sharp'
        return self._observe(
            frame,
            BLURRED,
            active,
            margin_confidence(sharpness, self.blur_min_sharpness, self.blur_min_sharpness),
            f'image {verdict}: edge sharpness {sharpness:.2f} (blurred below '
            f'{self.blur_min_sharpness:g})',
            sharpness=sharpness,
            laplacian_variance=float(laplacian.var()),
            threshold=self.blur_min_sharpness,
            measured_width=int(gray.shape[1]),
        )

    def _frozen(
        self, frame: Frame, gray: npt.NDArray[np.uint8], *, content_judged: bool
    ) -> Observation | None:
        previous_gray, previous_stamp = self._previous_gray, self._previous_stamp
        if previous_stamp is not None and (
            frame.sequence == self._previous_sequence and frame.stamp == previous_stamp
        ):
            return None  # the same frame handed over twice: no news about the stream
        if previous_stamp is not None and frame.stamp < previous_stamp:
            self.reset()
            previous_gray, previous_stamp = None, None
        self._previous_gray, self._previous_stamp = gray.copy(), frame.stamp
        self._previous_sequence = frame.sequence
        if previous_stamp is None:
            return None  # nothing to compare with yet
        self._repeated_stamp = self._repeated_stamp + 1 if frame.stamp == previous_stamp else 0
        difference = float('nan')
        if content_judged and previous_gray is not None and previous_gray.shape == gray.shape:
            difference = float(cv2.absdiff(gray, previous_gray).mean())
        if difference <= self.frozen_max_mean_difference:
            self._repeated_content += 1
        else:
            self._repeated_content = 0
        needed = self.frozen_frames - 1
        repeats = max(self._repeated_content, self._repeated_stamp)
        active = repeats >= needed
        if self._repeated_stamp >= needed:
            reason = 'stamp_repeated'
        elif self._repeated_content >= needed:
            reason = 'identical' if difference == 0.0 else 'near_identical'
        else:
            reason = 'changing'
        same = repeats + 1
        summary = (
            f'image stream frozen: {same} consecutive frames the same ({reason})'
            if active
            else f'image stream live: {same} consecutive frame(s) the same'
        )
        return self._observe(
            frame,
            FROZEN,
            active,
            margin_confidence(repeats, needed - 0.5, needed),
            summary,
            reason=reason,
            consecutive_same=same,
            mean_difference=difference,
            threshold_frames=self.frozen_frames,
        )


def _shrink_to_width(image: npt.NDArray[np.uint8], width: int) -> npt.NDArray[np.uint8]:
    """``image`` scaled down (area averaging) to ``width`` columns; narrower images unchanged."""
    height, columns = image.shape[:2]
    if columns <= width:
        return image
    rows = max(1, round(height * width / columns))
    return np.asarray(cv2.resize(image, (width, rows), interpolation=cv2.INTER_AREA))
