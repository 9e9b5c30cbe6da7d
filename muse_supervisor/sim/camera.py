"""The simulated robot's forward camera: a synthetic first-person view of the world model.

Not photorealism: a view the perception analyzers can be tested against end to end. Walls and
shelves come from the occupancy map (one ray per image column, sphere-traced on the map's
distance field), the floor is a tiled plane with spills drawn on it, and the timeline's things
stand in the view at their distance: obstacles as boxes, people as figures in high-visibility
vests, panels with their text, QR labels with their payload. Each column keeps the depth of its
wall, so a thing behind a shelf is hidden by it.

The camera looks along the robot's heading from ``height`` above the floor, with a pinhole
model of horizontal field of view ``hfov``; images are RGB (``rgb8``), row 0 at the top.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.sim.robot import Label, Panel, Scene
from muse_supervisor.sim.world import OccupancyMap

_SKY = np.array([70, 74, 82], np.uint8)  # the hall's ceiling
_FLOOR = (np.array([168, 168, 160], np.float32), np.array([150, 150, 143], np.float32))
_WALL = np.array([96, 112, 140], np.float32)  # shelving: blue-grey
_SPILL = np.array([28, 34, 40], np.float32)  # dark, glossy liquid
_BOX = np.array([150, 104, 58], np.uint8)  # a pallet load in cardboard
_VEST = np.array([250, 200, 20], np.uint8)  # high-visibility yellow
_SKIN = np.array([205, 160, 130], np.uint8)
_TROUSERS = np.array([40, 44, 70], np.uint8)
_WALL_HEIGHT = 2.2  # m: shelves and walls
_BOX_HEIGHT = 1.0  # m
_PERSON_HEIGHT = 1.75  # m
_PERSON_WIDTH = 0.5  # m
_PANEL_ELEVATION = 1.0  # m above the floor to the panel's lower edge
_LABEL_ELEVATION = 0.5  # m


@dataclass(frozen=True)
class CameraModel:
    """A pinhole camera on the robot."""

    width: int = 640
    height: int = 480
    hfov: float = math.radians(70.0)
    mount_height: float = 0.6  # m above the floor
    max_depth: float = 15.0  # m: beyond this, the view ends in the far wall colour
    # Sensor noise (standard deviation, grey levels): a real camera never sends two identical
    # frames, and a perfectly still one would read as a frozen stream.
    noise: float = 0.0

    @property
    def focal(self) -> float:
        """Focal length in pixels."""
        return (self.width / 2) / math.tan(self.hfov / 2)


def covered(camera: CameraModel, rng: np.random.Generator | None = None) -> np.ndarray:
    """What the camera shows with its lens covered: near black, a little light and noise."""
    rng = rng if rng is not None else np.random.default_rng()
    return rng.integers(0, 12, size=(camera.height, camera.width, 3), dtype=np.uint8)


def render(
    occupancy: OccupancyMap,
    pose: Pose2D,
    scene: Scene,
    camera: CameraModel,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The camera image (``height`` x ``width`` x 3, uint8 RGB) from ``pose`` in ``scene``.

    With ``camera.noise``, sensor noise drawn from ``rng`` is added (a fresh generator if none).
    """
    w, h, f = camera.width, camera.height, camera.focal
    cx, cy = (w - 1) / 2, (h - 1) / 2
    offsets = np.arctan((cx - np.arange(w)) / f)  # left of the heading is positive
    angles = pose.yaw + offsets
    ray = _wall_distances(occupancy, pose.x, pose.y, angles, camera.max_depth)
    depth = ray * np.cos(offsets)  # distance along the optical axis (no fisheye)
    image = np.empty((h, w, 3), np.uint8)
    image[:] = _SKY
    rows = np.arange(h)[:, None]
    top = cy - f * (_WALL_HEIGHT - camera.mount_height) / depth
    bottom = cy + f * camera.mount_height / depth
    wall = (rows >= top) & (rows <= bottom)
    shade = np.clip(1.0 - depth / (camera.max_depth * 1.3), 0.25, 1.0)
    wall_colour = (_WALL[None, :] * shade[:, None]).astype(np.uint8)
    image[wall] = np.broadcast_to(wall_colour[None, :, :], (h, w, 3))[wall]
    _floor(image, pose, angles, offsets, bottom, scene, camera)
    things = [*_boxes(scene), *_people(scene), *_panels(scene), *_labels(scene)]
    forward = (math.cos(pose.yaw), math.sin(pose.yaw))
    things.sort(key=lambda t: -((t.x - pose.x) * forward[0] + (t.y - pose.y) * forward[1]))
    for thing in things:
        _draw(image, thing, pose, depth, camera)
    if camera.noise > 0:
        grain = (rng or np.random.default_rng()).normal(0.0, camera.noise, image.shape)
        image = np.clip(image + grain, 0, 255).astype(np.uint8)
    return image


@dataclass(frozen=True)
class _Sprite:
    """A thing standing upright in the view, facing the camera, drawn from a texture."""

    x: float
    y: float
    width: float  # m
    bottom: float  # m above the floor
    top: float  # m above the floor
    texture: np.ndarray  # RGB
    mask: np.ndarray | None = None  # bool, where the texture is opaque


def _wall_distances(
    occupancy: OccupancyMap, x: float, y: float, angles: np.ndarray, max_depth: float
) -> np.ndarray:
    """Distance along each ray to the first non-free cell, by sphere tracing (vectorised)."""
    field = occupancy.distances
    resolution, (ox, oy) = occupancy.resolution, occupancy.origin
    cos, sin = np.cos(angles), np.sin(angles)
    travelled = np.zeros_like(angles)
    done = np.zeros(angles.shape, bool)
    for _ in range(64):
        px, py = x + cos * travelled, y + sin * travelled
        column = np.floor((px - ox) / resolution).astype(int)
        row = np.floor((py - oy) / resolution).astype(int)
        inside = (row >= 0) & (row < occupancy.height) & (column >= 0) & (column < occupancy.width)
        free = np.zeros_like(travelled)
        free[inside] = field[row[inside], column[inside]] - resolution / 2
        done |= (free <= resolution / 2) | (travelled >= max_depth)
        if done.all():
            break
        travelled = np.where(done, travelled, travelled + np.maximum(free, resolution / 2))
    clipped: np.ndarray = np.clip(travelled, 0.05, max_depth)
    return clipped


def _floor(
    image: np.ndarray,
    pose: Pose2D,
    angles: np.ndarray,
    offsets: np.ndarray,
    bottom: np.ndarray,
    scene: Scene,
    camera: CameraModel,
) -> None:
    """Tiles (0.5 m) and spills on the floor below each column's wall."""
    h = camera.height
    cy = (h - 1) / 2
    rows = np.arange(math.floor(cy) + 1, h)
    ahead = camera.focal * camera.mount_height / (rows - cy)  # along the axis, per row
    along = ahead[:, None] / np.cos(offsets)[None, :]
    gx = pose.x + along * np.cos(angles)[None, :]
    gy = pose.y + along * np.sin(angles)[None, :]
    tiles = ((np.floor(gx / 0.5) + np.floor(gy / 0.5)) % 2).astype(bool)
    colour = np.where(tiles[..., None], _FLOOR[0], _FLOOR[1])
    for spill in scene.spills:
        wet = (gx - spill.x) ** 2 + (gy - spill.y) ** 2 <= spill.radius**2
        colour[wet] = _SPILL
    fade = np.clip(1.0 - along / (camera.max_depth * 1.3), 0.3, 1.0)[..., None]
    visible = rows[:, None] > bottom[None, :]
    patch = image[rows[0] :]
    patch[visible] = (colour * fade).astype(np.uint8)[visible]


def _boxes(scene: Scene) -> list[_Sprite]:
    texture = np.empty((32, 32, 3), np.uint8)
    texture[:] = _BOX
    texture[::8, :] = texture[:, ::8] = (_BOX * 0.7).astype(np.uint8)  # slats and straps
    return [_Sprite(c.x, c.y, 2 * c.radius, 0.0, _BOX_HEIGHT, texture) for c in scene.obstacles]


def _people(scene: Scene) -> list[_Sprite]:
    texture, mask = _figure()
    return [
        _Sprite(c.x, c.y, _PERSON_WIDTH, 0.0, _PERSON_HEIGHT, texture, mask) for c in scene.people
    ]


@functools.cache
def _figure() -> tuple[np.ndarray, np.ndarray]:
    """A standing person, 35 x 120 texels: head, vest and arms, trousers and two legs."""
    h, w = 120, 35
    texture = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), bool)
    yy, xx = np.mgrid[:h, :w]
    head = (xx - w / 2) ** 2 + (yy - 9) ** 2 <= 7.5**2
    torso = (yy >= 18) & (yy < 66) & (abs(xx - w / 2) <= 11)
    arms = (yy >= 20) & (yy < 60) & (abs(xx - w / 2) > 11) & (abs(xx - w / 2) <= 16)
    legs = (yy >= 66) & (abs(xx - w / 2) >= 2) & (abs(xx - w / 2) <= 10)
    for part, colour in ((head, _SKIN), (torso, _VEST), (arms, _VEST), (legs, _TROUSERS)):
        texture[part], mask[part] = colour, True
    return texture, mask


def _panels(scene: Scene) -> list[_Sprite]:
    return [
        _Sprite(p.x, p.y, p.width, _PANEL_ELEVATION, _PANEL_ELEVATION + p.height, _panel(p))
        for p in scene.panels
    ]


@functools.lru_cache(maxsize=64)
def _panel(panel: Panel) -> np.ndarray:
    """Dark text on a white board with a border, laid out on lines that fit."""
    import cv2

    scale = 160  # texels per metre
    w, h = round(panel.width * scale), round(panel.height * scale)
    board = np.full((h, w, 3), 245, np.uint8)
    cv2.rectangle(board, (0, 0), (w - 1, h - 1), (30, 30, 30), 4)
    words = panel.text.split() or ['']
    best: tuple[float, list[str]] = (0.0, [''])
    for count in range(1, len(words) + 1):  # the line count that gives the largest letters
        lines = _split(words, count)
        widest = max(
            cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)[0][0] for line in lines
        )
        size = min((w - 24) / max(1, widest), (h - 16) / (count * 34))
        best = max(best, (size, lines), key=lambda option: option[0])
    size, lines = best
    for i, line in enumerate(lines):
        y = round(8 + (i + 0.85) * 34 * size)
        cv2.putText(board, line, (12, y), cv2.FONT_HERSHEY_SIMPLEX, size, (15, 15, 15), 2)
    return board


def _split(words: list[str], count: int) -> list[str]:
    """``words`` on at most ``count`` lines, each filled to about an equal share of the text."""
    share = len(' '.join(words)) / count
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) >= share and len(lines) < count:
            lines.append(word)
        else:
            lines[-1] = f'{lines[-1]} {word}'
    return lines


def _labels(scene: Scene) -> list[_Sprite]:
    return [
        _Sprite(
            label.x, label.y, label.size, _LABEL_ELEVATION, _LABEL_ELEVATION + label.size,
            _qr(label),
        )
        for label in scene.labels
    ]  # fmt: skip


@functools.lru_cache(maxsize=64)
def _qr(label: Label) -> np.ndarray:
    """The QR code of the label's payload with its quiet zone, one texel per module."""
    import cv2

    code = cv2.QRCodeEncoder.create().encode(label.payload)
    code = cv2.copyMakeBorder(code, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=255)
    return np.repeat(code[:, :, None], 3, axis=2)


def _draw(
    image: np.ndarray, thing: _Sprite, pose: Pose2D, depth: np.ndarray, camera: CameraModel
) -> None:
    """Paste the sprite where it projects, in columns where it is nearer than the wall."""
    import cv2

    dx, dy = thing.x - pose.x, thing.y - pose.y
    ahead = dx * math.cos(pose.yaw) + dy * math.sin(pose.yaw)
    left = -dx * math.sin(pose.yaw) + dy * math.cos(pose.yaw)
    if ahead < 0.2:
        return
    f, w, h = camera.focal, camera.width, camera.height
    cx, cy = (w - 1) / 2, (h - 1) / 2
    centre = cx - f * left / ahead
    half = f * thing.width / 2 / ahead
    x0, x1 = round(centre - half), round(centre + half)
    y0 = round(cy - f * (thing.top - camera.mount_height) / ahead)
    y1 = round(cy - f * (thing.bottom - camera.mount_height) / ahead)
    if x1 <= x0 or y1 <= y0 or x1 < 0 or x0 >= w or y1 < 0 or y0 >= h:
        return
    size = (x1 - x0, y1 - y0)
    nearest = cv2.INTER_NEAREST if thing.texture.shape[0] < size[1] else cv2.INTER_AREA
    texture = cv2.resize(thing.texture, size, interpolation=nearest)
    mask = (
        np.ones(texture.shape[:2], bool)
        if thing.mask is None
        else cv2.resize(thing.mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    )
    mask &= _visible(depth, x0, x1, ahead)
    ix0, iy0 = max(0, x0), max(0, y0)
    ix1, iy1 = min(w, x1), min(h, y1)
    region = mask[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0]
    image[iy0:iy1, ix0:ix1][region] = texture[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0][region]


def _visible(depth: np.ndarray, x0: int, x1: int, ahead: float) -> np.ndarray:
    """Columns of a sprite spanning [x0, x1), maybe partly off the image, nearer than the wall."""
    columns = np.arange(x0, x1)
    inside = (columns >= 0) & (columns < depth.shape[0])
    visible = np.zeros(columns.shape, bool)
    visible[inside] = depth[columns[inside]] > ahead
    return visible[None, :]
