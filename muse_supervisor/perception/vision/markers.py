"""QR codes and ArUco markers: asset tags, dock markers, payload labels (OpenCV 4.x).

- ``marker.qr``: one observation per QR code in view, its payload in the ``payload`` attribute
  (``decoded=false`` and an empty payload when a code was located but could not be read);
- ``marker.aruco``: one observation per ArUco marker, its ``id`` and ``dictionary``.

Both carry the marker's corners in pixels. Payloads and ids are read from the world, so every
observation is ``trusted=False`` (DOMAIN.md invariant 5): a label is compared with what the
mission expects (``payload_mismatch``), never obeyed. With nothing in view each signal gives one
inactive observation (the dock marker is no longer seen, the label is gone).

Measured with OpenCV 4.x; ``requirements/python.txt`` pins ``opencv-python-headless<5`` (5.0
drops the HOG people detector that :mod:`~muse_supervisor.perception.vision.person` uses).
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
    polygon,
)
from muse_supervisor.perception.vision.frames import Frame

MARKER_QR = 'marker.qr'
MARKER_ARUCO = 'marker.aruco'
_MAX_PAYLOAD = 500


def aruco_dictionaries() -> tuple[str, ...]:
    """The predefined ArUco dictionary names this OpenCV knows (``DICT_4X4_50``, ...)."""
    return tuple(sorted(name for name in dir(cv2.aruco) if name.startswith('DICT_')))


@dataclass
class MarkerAnalyzer:
    """QR and ArUco detection on the frame's luminance.

    Parameters: ``detect_qr`` (True), ``detect_aruco`` (True), ``aruco_dictionary``
    (``'DICT_4X4_50'``: small, robust markers; set it to the family printed on the site's docks
    and tags), ``default_rate_hz`` (2.0).
    """

    detect_qr: bool = True
    detect_aruco: bool = True
    aruco_dictionary: str = 'DICT_4X4_50'
    default_rate_hz: float = 2.0
    _qr: cv2.QRCodeDetector = field(init=False, repr=False)
    _aruco: cv2.aruco.ArucoDetector = field(init=False, repr=False)

    def __post_init__(self) -> None:
        known = aruco_dictionaries()
        if self.aruco_dictionary not in known:
            raise ValueError(
                f'unknown ArUco dictionary {self.aruco_dictionary!r}: expected one of '
                f'{", ".join(known)}'
            )
        if not (self.detect_qr or self.detect_aruco):
            raise ValueError('a MarkerAnalyzer needs detect_qr or detect_aruco (or both)')
        if self.default_rate_hz <= 0:
            raise ValueError(f'default_rate_hz must be positive, got {self.default_rate_hz}')
        self._qr = cv2.QRCodeDetector()
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.aruco_dictionary))
        self._aruco = cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())

    @property
    def name(self) -> str:
        """Producer name: OpenCV's QR and ArUco detectors."""
        return f'markers:opencv-{OPENCV_VERSION}'

    def analyze(self, frame: Frame) -> list[Observation]:
        """The QR codes and ArUco markers in view, or one inactive verdict per signal."""
        gray = frame.gray8
        observations: list[Observation] = []
        if self.detect_qr:
            observations += self._qr_codes(frame, gray)
        if self.detect_aruco:
            observations += self._aruco_markers(frame, gray)
        return observations

    def _qr_codes(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> list[Observation]:
        found, payloads, corners, _ = self._qr.detectAndDecodeMulti(gray)
        if not found:
            # The multi-code detector misses a single code that the single-code one reads
            # (seen on the simulator's rendered labels): try it before saying there is none.
            payload, points, _ = self._qr.detectAndDecode(gray)
            if points is not None:
                found, payloads, corners = True, (payload,), np.asarray(points).reshape(1, -1, 2)
        observations = []
        if found and corners is not None:
            for payload, points in zip(payloads, np.asarray(corners), strict=False):
                decoded = bool(payload)
                text = str(payload)[:_MAX_PAYLOAD]
                summary = (
                    f'QR code read (untrusted): {text[:80]!r}'
                    if decoded
                    else 'QR code seen, not readable'
                )
                observations.append(
                    camera_observation(
                        frame,
                        producer=self.name,
                        signal=MARKER_QR,
                        summary=summary,
                        active=True,
                        confidence=0.95 if decoded else 0.5,
                        trusted=False,
                        attributes={
                            'payload': text,
                            'decoded': decoded,
                            'corners': polygon(points.reshape(-1, 2)),
                        },
                    )
                )
        if observations:
            return observations
        return [
            camera_observation(
                frame,
                producer=self.name,
                signal=MARKER_QR,
                summary='no QR code in view',
                active=False,
                confidence=0.6,
                trusted=False,
            )
        ]

    def _aruco_markers(self, frame: Frame, gray: npt.NDArray[np.uint8]) -> list[Observation]:
        corners, ids, _ = self._aruco.detectMarkers(gray)
        observations = []
        if ids is not None:
            for marker_id, points in zip(np.asarray(ids).ravel(), corners, strict=True):
                observations.append(
                    camera_observation(
                        frame,
                        producer=self.name,
                        signal=MARKER_ARUCO,
                        summary=f'ArUco marker {int(marker_id)} ({self.aruco_dictionary}) in view',
                        active=True,
                        confidence=0.95,
                        trusted=False,
                        attributes={
                            'id': int(marker_id),
                            'dictionary': self.aruco_dictionary,
                            'corners': polygon(np.asarray(points).reshape(-1, 2)),
                        },
                    )
                )
        if observations:
            return observations
        return [
            camera_observation(
                frame,
                producer=self.name,
                signal=MARKER_ARUCO,
                summary=f'no ArUco marker ({self.aruco_dictionary}) in view',
                active=False,
                confidence=0.6,
                trusted=False,
                attributes={'dictionary': self.aruco_dictionary},
            )
        ]
