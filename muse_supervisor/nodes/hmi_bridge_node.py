"""``hmi_bridge_node``: serves the operator HMI: incidents, evidence, ranked plans, decisions.

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The operator HMI server fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class HmiBridgeConfig:
    """Parameters of ``hmi_bridge`` (see ``config/hmi_bridge.yaml``)."""

    host: str = param('127.0.0.1', 'Address the HMI server listens on.', read_only=True)
    port: int = param(
        8765,
        'Port the HMI server listens on (0 picks a free one).',
        minimum=0,
        maximum=65535,
        read_only=True,
    )


class HmiBridgeNode(SupervisorNode[HmiBridgeConfig]):
    """Serves the operator HMI: incidents, evidence, ranked plans, decisions."""

    still_to_come = 'the operator HMI server'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('hmi_bridge', HmiBridgeConfig, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``hmi_bridge_node`` executable."""
    return run(HmiBridgeNode, args)
