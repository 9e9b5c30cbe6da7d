"""``perception_node``: turns camera, alarm and mission-state topics into incidents with evidence.

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The incident builder and detectors fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class PerceptionConfig:
    """Parameters of ``perception`` (see ``config/perception.yaml``)."""

    camera_stale_timeout: float = param(
        2.0,
        'Seconds without a camera frame after which the camera counts as faulty.',
        minimum=0.1,
        maximum=60.0,
    )
    incident_cooldown: float = param(
        5.0,
        'Seconds before an incident of the same kind may be opened again after closing.',
        minimum=0.0,
        maximum=3600.0,
    )


class PerceptionNode(SupervisorNode[PerceptionConfig]):
    """Turns camera, alarm and mission-state topics into incidents with evidence."""

    still_to_come = 'the incident builder and detectors'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('perception', PerceptionConfig, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``perception_node`` executable."""
    return run(PerceptionNode, args)
