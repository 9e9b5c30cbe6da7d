"""Draw the shipped warehouse map (config/maps/warehouse.pgm): walls, four shelf rows, aisles.

    .venv/jazzy/bin/python tools/make_warehouse_map.py

10 m x 10 m at 0.05 m per cell (200 x 200), origin (-2, -5): the gate's shipped waypoints
(charger_1 at the origin, dock_1 at (0, -1)) lie in the open area on the left. Free cells are
white (254), occupied black (0), as map_server writes them; the YAML beside it names the image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from muse_supervisor.sim.world import write_pgm

RESOLUTION = 0.05
ORIGIN = (-2.0, -5.0)
SIZE = 200
SHELVES = [  # (x0, y0, x1, y1) in metres, map frame
    (2.0, 1.0, 7.0, 1.6),
    (2.0, 2.8, 7.0, 3.4),
    (2.0, -1.6, 7.0, -1.0),
    (2.0, -3.4, 7.0, -2.8),
]


def draw() -> np.ndarray:
    """The map image, top row first."""
    image = np.full((SIZE, SIZE), 254, dtype=np.uint8)  # rows from the bottom for now
    image[:2, :] = image[-2:, :] = image[:, :2] = image[:, -2:] = 0  # 0.1 m walls
    for x0, y0, x1, y1 in SHELVES:
        c0, c1 = round((x0 - ORIGIN[0]) / RESOLUTION), round((x1 - ORIGIN[0]) / RESOLUTION)
        r0, r1 = round((y0 - ORIGIN[1]) / RESOLUTION), round((y1 - ORIGIN[1]) / RESOLUTION)
        image[r0:r1, c0:c1] = 0
    return image[::-1]


if __name__ == '__main__':
    out = Path(__file__).resolve().parents[1] / 'config' / 'maps' / 'warehouse.pgm'
    write_pgm(out, draw())
    print(f'wrote {out}')
