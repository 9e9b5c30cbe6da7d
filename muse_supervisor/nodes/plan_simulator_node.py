"""``plan_simulator_node``: predicts what each candidate plan would do (EvaluatePlan server).

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The world model and plan rollout fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class PlanSimulatorConfig:
    """Parameters of ``plan_simulator`` (see ``config/plan_simulator.yaml``)."""

    horizon: float = param(
        120.0, 'Longest stretch of time a plan is simulated for (s).', minimum=1.0, maximum=3600.0
    )
    time_step: float = param(0.1, 'Simulation step (s).', minimum=0.001, maximum=1.0)


class PlanSimulatorNode(SupervisorNode[PlanSimulatorConfig]):
    """Predicts what each candidate plan would do (EvaluatePlan action server)."""

    still_to_come = 'the world model and plan rollout'

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('plan_simulator', PlanSimulatorConfig, **kwargs)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``plan_simulator_node`` executable."""
    return run(PlanSimulatorNode, args)
