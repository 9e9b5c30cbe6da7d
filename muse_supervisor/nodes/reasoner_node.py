"""``reasoner_node``: proposes recovery plans, made only of allow-listed skills, for each incident.

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The multimodal reasoner backends fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class ReasonerConfig:
    """Parameters of ``reasoner`` (see ``config/reasoner.yaml``)."""

    mode: str = param(
        'instant',
        'Reasoning mode: instant answers at once, thinking samples several candidates.',
        choices=('instant', 'thinking'),
    )
    candidates: int = param(
        3,
        'Number of candidate plans generated in parallel in thinking mode.',
        minimum=1,
        maximum=16,
    )
    model_path: str = param(
        '',
        'Local folder of a vision-language model; empty means no model is loaded.',
        read_only=True,
    )


class ReasonerNode(SupervisorNode[ReasonerConfig]):
    """Proposes recovery plans, made only of allow-listed skills, for each incident."""

    still_to_come = 'the multimodal reasoner backends'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('reasoner', ReasonerConfig, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``reasoner_node`` executable."""
    return run(ReasonerNode, args)
