"""``sim_world_node``: a kinematic stand-in for the robot and its world, for runs without Gazebo.

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The simulated robot and world fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class SimWorldConfig:
    """Parameters of ``sim_world`` (see ``config/sim_world.yaml``)."""

    rate_hz: float = param(
        50.0,
        'Rate at which the simulated robot is stepped and odometry published (Hz).',
        minimum=1.0,
        maximum=1000.0,
    )


class SimWorldNode(SupervisorNode[SimWorldConfig]):
    """A kinematic stand-in for the robot and its world, for runs without Gazebo."""

    still_to_come = 'the simulated robot and world'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('sim_world', SimWorldConfig, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``sim_world_node`` executable."""
    return run(SimWorldNode, args)
