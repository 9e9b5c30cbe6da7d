"""What the plan simulator node needs from a simulator: plans in, predictions out.

The built-in world model (:class:`BuiltinBackend`, :mod:`muse_supervisor.sim.rollout`) is the
default. Another simulator plugs in by implementing :class:`SimulatorBackend`: a Gazebo backend,
for instance, would start a headless world per worker (``gz sim -s -r``, faster than real time),
spawn the robot at the situation's pose, run the same :class:`~muse_supervisor.safety.runner.
PlanRunner` and :class:`~muse_supervisor.safety.gate.GateCore` against its ``ros_gz``-bridged
``odom``, range and ``cmd_vel`` topics on a ``/clock`` of its own, and fill a
:class:`~muse_supervisor.sim.rollout.Prediction` from what happened. Whatever the simulator,
the gate's own code decides what the plan may do: only the world is swapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from muse_supervisor.domain.plans import Plan
from muse_supervisor.safety.config import GateConfig
from muse_supervisor.sim.physics import RobotModel
from muse_supervisor.sim.rollout import Prediction, Situation, simulate
from muse_supervisor.sim.world import World, load_world


class SimulatorBackend(Protocol):
    """A simulator that predicts one plan from one situation (called in a worker process)."""

    def evaluate(self, plan: Plan, situation: Situation) -> Prediction:
        """Roll ``plan`` forward from ``situation``."""


class BuiltinBackend:
    """The built-in world model: a map_server map, places and zones, rolled forward in Python."""

    def __init__(
        self, world_file: Path, gate: GateConfig, robot: RobotModel, horizon: float
    ) -> None:
        self.world: World = load_world(world_file)
        self.gate, self.robot, self.horizon = gate, robot, horizon

    def evaluate(self, plan: Plan, situation: Situation) -> Prediction:
        """See :func:`~muse_supervisor.sim.rollout.simulate`."""
        return simulate(plan, self.world, self.gate, situation, self.robot, self.horizon)


BACKENDS: dict[str, type[BuiltinBackend]] = {'builtin': BuiltinBackend}
