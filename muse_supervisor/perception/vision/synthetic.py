"""Synthetic camera scenes drawn with OpenCV, for the analyzers' tests, benchmark and demos.

No photograph ships with the package and none may be downloaded, so the tests and the cost
benchmark draw their images: a cluttered scene for the health checks, an aisle with a floor for
the corridor and floor checks, a panel with text, QR codes, ArUco markers and a standing figure.
Every function is deterministic for a given ``seed`` so a failing test reproduces.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

FLOOR_BGR = (118, 122, 126)
"""Colour of the concrete floor in :func:`aisle_scene` (a mid grey, slightly warm)."""


def cluttered_scene(height: int = 480, width: int = 640, seed: int = 0) -> Image:
    """A sharp, busy scene: shelves of boxes, lines and labels, with a little sensor noise."""
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (150, 150, 145)
    scale = width / 640
    for _ in range(60):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(rng.integers(20, 120) * scale) for _ in range(2))
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, -1)
        cv2.rectangle(image, (x, y), (x + w, y + h), (30, 30, 30), max(1, round(2 * scale)))
    for _ in range(25):
        start = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        end = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.line(image, start, end, (20, 20, 20), max(1, round(2 * scale)), cv2.LINE_AA)
    for index in range(8):
        origin = (int(rng.integers(0, width - 100)), int(rng.integers(20, height)))
        cv2.putText(
            image,
            f'BAY {index}',
            origin,
            cv2.FONT_HERSHEY_SIMPLEX,
            0.7 * scale,
            (10, 10, 10),
            max(1, round(2 * scale)),
            cv2.LINE_AA,
        )
    return add_noise(image, 3.0, seed)


def aisle_scene(
    height: int = 480,
    width: int = 640,
    *,
    seed: int = 0,
    obstacle: bool = False,
    spill: bool = False,
    debris: bool = False,
) -> Image:
    """A forward view down an aisle: shelving above the horizon, a grey floor below it.

    ``obstacle`` puts a brown carton in the middle of the drive corridor; ``spill`` a glossy
    light patch on the floor (a reflection of the ceiling lights in liquid); ``debris`` a few
    small dark fragments scattered on the floor, off the robot's path.
    """
    rng = np.random.default_rng(seed)
    image = np.empty((height, width, 3), np.uint8)
    horizon = int(height * 0.42)
    image[:horizon] = (165, 160, 150)
    for _ in range(30):  # shelving and stock above the horizon
        x = int(rng.integers(0, width))
        y = int(rng.integers(0, max(1, horizon - 30)))
        w, h = int(rng.integers(30, 110) * width / 640), int(rng.integers(15, 60) * height / 480)
        colour = tuple(int(c) for c in rng.integers(30, 220, 3))
        cv2.rectangle(image, (x, y), (x + w, min(horizon - 1, y + h)), colour, -1)
    floor = np.linspace(0.92, 1.05, height - horizon)[:, None, None]  # lit more near the robot
    image[horizon:] = np.clip(np.array(FLOOR_BGR, float)[None, None, :] * floor, 0, 255).astype(
        np.uint8
    )
    x_scale, y_scale = width / 640, height / 480
    if obstacle:
        top_left = (int(250 * x_scale), int(290 * y_scale))
        bottom_right = (int(400 * x_scale), int(420 * y_scale))
        cv2.rectangle(image, top_left, bottom_right, (40, 90, 150), -1)
        cv2.line(
            image,
            (top_left[0], int(330 * y_scale)),
            (bottom_right[0], int(330 * y_scale)),
            (30, 60, 110),
            max(1, round(3 * x_scale)),
        )
    if spill:
        centre = (int(180 * x_scale), int(400 * y_scale))
        axes = (int(70 * x_scale), int(22 * y_scale))
        cv2.ellipse(image, centre, axes, 0, 0, 360, (236, 236, 232), -1, cv2.LINE_AA)
    if debris:
        for x, y, r in ((470, 360, 9), (520, 410, 8), (540, 340, 7), (120, 330, 8)):
            cv2.circle(
                image,
                (int(x * x_scale), int(y * y_scale)),
                max(2, int(r * x_scale)),
                (25, 25, 30),
                -1,
            )
    return add_noise(image, 2.0, seed)


def text_panel(text: str, height: int = 480, width: int = 640, scale: float = 1.6) -> Image:
    """A light control-panel face with ``text`` in dark capitals across its middle."""
    image = np.full((height, width, 3), (60, 60, 60), np.uint8)
    cv2.rectangle(image, (20, height // 3), (width - 20, 2 * height // 3), (228, 228, 222), -1)
    thickness = max(2, round(scale * 2.5))
    (text_width, text_height), _ = cv2.getTextSize(
        text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness
    )
    origin = ((width - text_width) // 2, (height + text_height) // 2)
    cv2.putText(
        image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (25, 25, 25), thickness, cv2.LINE_AA
    )
    return image


def qr_code_scene(payload: str, height: int = 480, width: int = 640, module: int = 8) -> Image:
    """A QR code carrying ``payload`` on a white label in a grey scene."""
    modules = np.asarray(cv2.QRCodeEncoder.create().encode(payload), dtype=np.uint8)
    scaled = cv2.resize(modules, None, fx=module, fy=module, interpolation=cv2.INTER_NEAREST)
    quiet = 4 * module  # the blank margin a QR code needs around it
    code = cv2.copyMakeBorder(scaled, quiet, quiet, quiet, quiet, cv2.BORDER_CONSTANT, value=255)
    return _place(np.asarray(code, dtype=np.uint8), height, width)


def aruco_scene(
    marker_id: int, dictionary: int = cv2.aruco.DICT_4X4_50, height: int = 480, width: int = 640
) -> Image:
    """ArUco marker ``marker_id`` of ``dictionary`` with a white border in a grey scene."""
    atlas = cv2.aruco.getPredefinedDictionary(dictionary)
    marker = np.asarray(cv2.aruco.generateImageMarker(atlas, marker_id, 200), np.uint8)
    bordered = cv2.copyMakeBorder(marker, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)
    return _place(np.asarray(bordered, dtype=np.uint8), height, width)


def standing_figure(
    height: int = 480, width: int = 640, *, centre_x: int | None = None, figure_height: int = 300
) -> Image:
    """A plain room with a dark standing silhouette: head, torso, arms and legs.

    Not a person, but the outline a pedestrian detector's gradient features respond to; used to
    check the person analyzer's plumbing, not its accuracy on real people.
    """
    image = np.empty((height, width, 3), np.uint8)
    image[:] = (150, 160, 170)
    unit = figure_height / 300
    x = width // 2 if centre_x is None else centre_x
    top = (height - figure_height) // 2
    head = max(3, int(18 * unit))
    head_centre_y = top + head
    cv2.circle(image, (x, head_centre_y), head, (90, 120, 170), -1)
    torso_top = head_centre_y + head + int(4 * unit)
    torso_bottom = torso_top + int(95 * unit)
    body = (40, 40, 60)
    cv2.rectangle(
        image, (x - int(26 * unit), torso_top), (x + int(26 * unit), torso_bottom), body, -1
    )
    for side in (-1, 1):
        shoulder = (x + side * int(26 * unit), torso_top + int(8 * unit))
        cv2.line(
            image,
            shoulder,
            (x + side * int(40 * unit), torso_bottom),
            body,
            max(1, int(12 * unit)),
        )
        hip = (x + side * int(12 * unit), torso_bottom)
        foot = (x + side * int(22 * unit), torso_bottom + int(110 * unit))
        cv2.line(image, hip, foot, (60, 50, 40), max(1, int(16 * unit)))
    return add_noise(image, 2.0, 1)


def add_noise(image: Image, sigma: float, seed: int = 0) -> Image:
    """``image`` plus Gaussian sensor noise of ``sigma`` grey levels."""
    rng = np.random.default_rng(seed + 1000)
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _place(patch: Image, height: int, width: int) -> Image:
    """A grey scene with the grey-level ``patch`` in its centre (scaled down if it is too big)."""
    scene = np.full((height, width, 3), 128, np.uint8)
    limit = min(height, width) - 20
    if max(patch.shape[:2]) > limit:
        factor = limit / max(patch.shape[:2])
        patch = np.asarray(
            cv2.resize(patch, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), np.uint8
        )
    rows, columns = patch.shape[:2]
    y, x = (height - rows) // 2, (width - columns) // 2
    scene[y : y + rows, x : x + columns] = patch[:, :, None]
    return scene
