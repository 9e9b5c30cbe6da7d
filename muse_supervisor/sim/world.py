"""The world a plan is simulated in: an occupancy map and the named places and zones on it.

The map is read in the format of Nav2's ``map_server`` (a YAML file naming a PGM image, its
resolution, origin and thresholds), so a robot's own saved map works unchanged. Named places
(waypoints, chargers, docks) and zones (keep-out, slow) come from a second YAML file beside it,
in the map frame. Everything is plain data: the rollouts and the simulated robot share it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml  # type: ignore[import-untyped]

from muse_supervisor.domain.geometry import point_in_polygon


class WorldError(ValueError):
    """A map or world file is wrong; the message says which file, what and what was expected."""


FREE, UNKNOWN, OCCUPIED = 0, -1, 100


@dataclass(frozen=True)
class OccupancyMap:
    """A grid of FREE / OCCUPIED / UNKNOWN cells; row 0 is the bottom of the map (y = origin)."""

    cells: np.ndarray  # int8, shape (height, width)
    resolution: float  # m per cell
    origin: tuple[float, float]  # world (x, y) of the lower-left corner of cell (0, 0)

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.cells.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.cells.shape[1])

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """(row, column) of the cell containing world point (x, y); may lie outside the map."""
        column = math.floor((x - self.origin[0]) / self.resolution)
        row = math.floor((y - self.origin[1]) / self.resolution)
        return row, column

    def center_of(self, row: int, column: int) -> tuple[float, float]:
        """World (x, y) of a cell's center."""
        return (
            self.origin[0] + (column + 0.5) * self.resolution,
            self.origin[1] + (row + 0.5) * self.resolution,
        )

    def inside(self, row: int, column: int) -> bool:
        """Whether (row, column) is on the map."""
        return 0 <= row < self.height and 0 <= column < self.width

    def free(self, x: float, y: float) -> bool:
        """Whether world point (x, y) is in a known free cell (off the map is not free)."""
        row, column = self.cell_of(x, y)
        return self.inside(row, column) and self.cells[row, column] == FREE

    @functools.cached_property
    def distances(self) -> np.ndarray:
        """:func:`distance_field` of this map, computed on first use."""
        return distance_field(self)

    @functools.cached_property
    def _clearances(self) -> list[float]:
        """:meth:`clearance` of every cell, row-major, as Python floats (cheap to index)."""
        return list(np.maximum(0.0, self.distances - self.resolution / 2).ravel().tolist())

    def clearance(self, x: float, y: float) -> float:
        """Metres from (x, y) to the nearest non-free cell's edge (0 off the map or inside one)."""
        column = math.floor((x - self.origin[0]) / self.resolution)
        row = math.floor((y - self.origin[1]) / self.resolution)
        if not (0 <= row < self.cells.shape[0] and 0 <= column < self.cells.shape[1]):
            return 0.0
        return float(self._clearances[row * self.cells.shape[1] + column])


@dataclass(frozen=True)
class Place:
    """A named pose in the map frame: a waypoint, a charger or a dock."""

    name: str
    kind: str  # 'waypoint', 'charger' or 'dock'
    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class Zone:
    """A named polygon in the map frame: ``keep_out`` (never enter) or ``slow`` (a speed cap)."""

    name: str
    kind: str
    polygon: tuple[tuple[float, float], ...]
    max_speed: float = 0.0  # slow zones only

    def contains(self, x: float, y: float) -> bool:
        """Whether (x, y) is inside the zone."""
        return point_in_polygon(x, y, self.polygon)


@dataclass(frozen=True)
class World:
    """The map and what is named on it."""

    map: OccupancyMap
    places: tuple[Place, ...] = ()
    zones: tuple[Zone, ...] = ()
    frame_id: str = 'map'
    name: str = ''
    extras: dict[str, Any] = field(default_factory=dict)

    def place(self, name: str) -> Place | None:
        """The place called ``name``, if any."""
        return next((p for p in self.places if p.name == name), None)


def read_pgm(path: Path) -> np.ndarray:
    """Read a binary (P5) or plain (P2) PGM image as a uint8/uint16 array, top row first."""
    data = path.read_bytes()
    tokens: list[bytes] = []
    position = 0
    while len(tokens) < 4:  # magic, width, height, maxval; comments start with '#'
        while position < len(data) and data[position : position + 1].isspace():
            position += 1
        if data[position : position + 1] == b'#':
            position = data.index(b'\n', position) + 1
            continue
        end = position
        while end < len(data) and not data[end : end + 1].isspace():
            end += 1
        tokens.append(data[position:end])
        position = end
    magic, width, height, maxval = tokens[0], int(tokens[1]), int(tokens[2]), int(tokens[3])
    if magic not in (b'P5', b'P2') or width <= 0 or height <= 0 or not 0 < maxval < 65536:
        raise WorldError(f'{path}: not a PGM image (P5 or P2) with a sane size and maxval')
    dtype = np.dtype('>u2') if maxval > 255 else np.dtype('u1')
    if magic == b'P5':
        raw = data[position + 1 : position + 1 + width * height * dtype.itemsize]
        if len(raw) != width * height * dtype.itemsize:
            raise WorldError(f'{path}: image data is shorter than {width} x {height} pixels')
        pixels = np.frombuffer(raw, dtype=dtype)
    else:
        pixels = np.array(data[position:].split(), dtype=np.int64)
        if pixels.size != width * height:
            raise WorldError(f'{path}: {pixels.size} pixel values, expected {width * height}')
    return pixels.reshape(height, width).astype(np.uint16 if maxval > 255 else np.uint8)


def write_pgm(path: Path, image: np.ndarray) -> None:
    """Write a uint8 array (top row first) as a binary PGM."""
    height, width = image.shape
    path.write_bytes(f'P5\n{width} {height}\n255\n'.encode() + image.astype(np.uint8).tobytes())


def load_map(yaml_path: Path) -> OccupancyMap:
    """Read a Nav2 ``map_server`` map (YAML + image), trinary mode, as map_server does."""
    spec = _yaml(yaml_path)
    for key in ('image', 'resolution', 'origin'):
        if key not in spec:
            raise WorldError(f'{yaml_path}: missing {key!r} (a map_server map needs image, '
                             'resolution, origin)')  # fmt: skip
    image_path = (yaml_path.parent / str(spec['image'])).resolve()
    if image_path.suffix.lower() != '.pgm':
        raise WorldError(f'{yaml_path}: image {image_path.name}: only PGM images are read here')
    if not image_path.exists():
        raise WorldError(f'{yaml_path}: image {image_path} does not exist')
    resolution = _number(yaml_path, spec, 'resolution')
    if not resolution > 0:
        raise WorldError(f'{yaml_path}: resolution {resolution}, expected > 0 (m per cell)')
    origin = spec['origin']
    if not isinstance(origin, list) or len(origin) != 3:
        raise WorldError(f'{yaml_path}: origin {origin!r}, expected [x, y, yaw]')
    if float(origin[2]) != 0.0:
        raise WorldError(f'{yaml_path}: origin yaw {origin[2]}: rotated maps are not supported')
    mode = spec.get('mode', 'trinary')
    if mode != 'trinary':
        raise WorldError(f'{yaml_path}: mode {mode!r}; only trinary maps are read here')
    occupied = float(spec.get('occupied_thresh', 0.65))
    free = float(spec.get('free_thresh', 0.25))
    negate = bool(int(spec.get('negate', 0)))
    pixels = read_pgm(image_path).astype(float)
    maxval = 65535.0 if pixels.max(initial=0) > 255 else 255.0
    # map_server: occupancy p = (255 - value) / 255 (or value / 255 when negated).
    p = pixels / maxval if negate else (maxval - pixels) / maxval
    cells = np.full(p.shape, UNKNOWN, dtype=np.int8)
    cells[p > occupied] = OCCUPIED
    cells[p < free] = FREE
    return OccupancyMap(np.ascontiguousarray(cells[::-1]), resolution, (float(origin[0]),
                        float(origin[1])))  # fmt: skip


def load_world(yaml_path: Path) -> World:
    """Read a world file: ``map:`` (a map_server YAML, relative to it), places and zones."""
    spec = _yaml(yaml_path)
    if 'map' not in spec:
        raise WorldError(f'{yaml_path}: missing map: (the map_server YAML of this world)')
    occupancy = load_map((yaml_path.parent / str(spec['map'])).resolve())
    places = []
    for kind, key in (('waypoint', 'waypoints'), ('charger', 'chargers'), ('dock', 'docks')):
        for name, pose in (spec.get(key) or {}).items():
            if not isinstance(pose, list) or len(pose) != 3:
                raise WorldError(f'{yaml_path}: {key}.{name}: {pose!r}, expected [x, y, yaw]')
            places.append(Place(str(name), kind, *(float(v) for v in pose)))
    zones = []
    for kind, key in (('keep_out', 'keep_out_zones'), ('slow', 'slow_zones')):
        for name, entry in (spec.get(key) or {}).items():
            flat = entry.get('polygon') if isinstance(entry, dict) else None
            if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
                raise WorldError(f'{yaml_path}: {key}.{name}.polygon: expected [x1, y1, x2, y2, '
                                 'x3, y3, ...]')  # fmt: skip
            polygon = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
            speed = float(entry.get('max_speed', 0.0)) if kind == 'slow' else 0.0
            zones.append(Zone(str(name), kind, polygon, speed))
    names = [p.name for p in places]
    if len(set(names)) != len(names):
        raise WorldError(f'{yaml_path}: place names {names} must be unique')
    return World(occupancy, tuple(places), tuple(zones), str(spec.get('frame_id', 'map')),
                 str(spec.get('name', yaml_path.stem)))  # fmt: skip


def _yaml(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise WorldError(f'{path}: cannot read: {error}') from error
    if not isinstance(spec, dict):
        raise WorldError(f'{path}: expected a mapping at the top level')
    return spec


def _number(path: Path, spec: dict[str, Any], key: str) -> float:
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorldError(f'{path}: {key} {value!r}, expected a number')
    return float(value)


def distance_field(occupancy: OccupancyMap) -> np.ndarray:
    """Metres from each cell's center to the nearest non-free cell's center (0 on those).

    The exact Euclidean distance transform (Felzenszwalb and Huttenlocher's lower envelope of
    parabolas, rows then columns): computed once per map, it makes ray casts and clearance
    look-ups a read instead of a search.
    """
    big = float((occupancy.height + occupancy.width) ** 2)
    squared = np.where(occupancy.cells != FREE, 0.0, big)
    squared = np.apply_along_axis(_edt_1d, 1, squared)
    squared = np.apply_along_axis(_edt_1d, 0, squared)
    return np.sqrt(squared) * occupancy.resolution


def _edt_1d(f: np.ndarray) -> np.ndarray:
    """Squared distance transform of one line of squared costs ``f`` (in cells)."""
    n = len(f)
    out = np.empty(n)
    v = [0]  # the parabolas of the lower envelope
    z = [-math.inf, math.inf]  # their boundaries
    for q in range(1, n):
        while True:
            p = v[-1]
            s = ((f[q] + q * q) - (f[p] + p * p)) / (2.0 * (q - p))
            if s <= z[-2]:
                v.pop()
                z.pop()
                if v:
                    continue
                v.append(q)
                z[-1:] = [-math.inf, math.inf]
                break
            v.append(q)
            z[-1:] = [s, math.inf]
            break
    k = 0
    for q in range(n):
        while z[k + 1] < q:
            k += 1
        p = v[k]
        out[q] = (q - p) ** 2 + f[p]
    return out
