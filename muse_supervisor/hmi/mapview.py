"""The world as the HMI draws it: the occupancy grid as a PNG, places and zones as data."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from muse_supervisor.sim.world import FREE, OCCUPIED, World


def world_view(world: World) -> tuple[dict[str, Any], bytes]:
    """(JSON-ready description, PNG of the grid, north up) of ``world``."""
    grid = world.map
    image = np.full(grid.cells.shape, 160, dtype=np.uint8)  # unknown: grey
    image[grid.cells == FREE] = 250
    image[grid.cells == OCCUPIED] = 40
    ok, png = cv2.imencode('.png', np.flipud(image))  # row 0 is the bottom of the map
    if not ok:
        raise RuntimeError('cannot encode the map as PNG')
    description = {
        'name': world.name,
        'frame_id': world.frame_id,
        'map': True,
        'resolution': grid.resolution,
        'origin': list(grid.origin),
        'width': grid.width,
        'height': grid.height,
        'places': [{'name': p.name, 'kind': p.kind, 'x': p.x, 'y': p.y} for p in world.places],
        'zones': [{'name': z.name, 'kind': z.kind, 'polygon': [list(v) for v in z.polygon]}
                  for z in world.zones],
    }  # fmt: skip
    return description, png.tobytes()
