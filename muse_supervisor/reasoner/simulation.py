"""The ``simulate`` tool's backend: candidate plans rolled forward in parallel.

Offline (``propose``, ``eval``) and in tests the built-in world model runs in a pool of worker
processes, the same :class:`~muse_supervisor.sim.backend.BuiltinBackend` the plan simulator node
runs; on the robot the reasoner node asks the plan simulator node through its ``evaluate_plan``
action instead. Both implement :class:`Simulator`: plans in, predictions (or ``None`` for a plan
not evaluated before the deadline) out, in the order given.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Plan, Step
from muse_supervisor.safety.config import GateConfig
from muse_supervisor.sim.backend import BuiltinBackend
from muse_supervisor.sim.physics import RobotModel
from muse_supervisor.sim.rollout import Prediction, Situation

_WORKER: dict[str, Any] = {}


class Simulator(Protocol):
    """Predicts candidate plans; ``None`` for one not evaluated within ``timeout`` seconds."""

    def evaluate(
        self, plans: Sequence[Plan], situation: Situation, timeout: float
    ) -> list[Prediction | None]:
        """Roll every plan forward from ``situation``, in parallel where it can."""


def _load(world: str, gate: GateConfig, robot: RobotModel, horizon: float) -> None:
    _WORKER['backend'] = BuiltinBackend(Path(world), gate, robot, horizon)


def _evaluate(plan: Plan, situation: Situation) -> Prediction:
    backend: BuiltinBackend = _WORKER['backend']
    return backend.evaluate(plan, situation)


class PoolSimulator:
    """The built-in world model in ``workers`` processes (spawned: never fork with DDS)."""

    def __init__(
        self,
        world_file: Path,
        gate: GateConfig,
        robot: RobotModel | None = None,
        horizon: float = 120.0,
        workers: int = 0,
    ) -> None:
        self.workers = workers or os.cpu_count() or 1
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context('spawn'),
            initializer=_load,
            initargs=(str(world_file), gate, robot or RobotModel(), horizon),
        )

    def warm_up(self) -> None:
        """Start the workers and load the world in each (seconds), before the first deadline."""
        plan = Plan('warm-up', 'warm-up', (Step(0),), 1, False)  # one stop
        situation = Situation(Pose2D(0.0, 0.0, 0.0))
        for future in [self._pool.submit(_evaluate, plan, situation) for _ in range(self.workers)]:
            future.result()

    def evaluate(
        self, plans: Sequence[Plan], situation: Situation, timeout: float
    ) -> list[Prediction | None]:
        """See :class:`Simulator`."""
        futures = [self._pool.submit(_evaluate, plan, situation) for plan in plans]
        end = time.monotonic() + timeout
        results: list[Prediction | None] = []
        for future in futures:
            try:
                results.append(future.result(timeout=max(0.0, end - time.monotonic())))
            except concurrent.futures.TimeoutError:
                future.cancel()
                results.append(None)
        return results

    def close(self) -> None:
        """Stop the workers (a running rollout finishes first)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
