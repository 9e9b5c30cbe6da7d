"""``plan_simulator_node``: the ``evaluate_plan`` action server; predicts plans before approval.

A thin node around :func:`muse_supervisor.sim.rollout.simulate`: each goal's plans are rolled
forward from the robot's current situation (latest ``odom``, e-stop state from ``gate_status``)
in the world model, with the safety gate's own limits read from the gate's parameter file, and
each evaluation goes out as feedback as soon as it is done. Plans are evaluated in parallel, in
worker processes (rollouts are pure Python: threads would share one interpreter lock), each of
which loads the world once.

Threads: the executor thread runs subscriptions and the action's callbacks; each goal waits for
its evaluations on a thread of its own, so cancel requests and new odometry keep flowing.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nav_msgs.msg import Odometry
from rclpy.action.client import ActionClient
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.task import Future

from muse_supervisor.action import EvaluatePlan
from muse_supervisor.domain import Pose2D
from muse_supervisor.domain.plans import Plan
from muse_supervisor.msg import GateStatus, PlanEvaluation
from muse_supervisor.nodes.conversions import evaluation_msg, plan_from_msg, yaw_of
from muse_supervisor.nodes.installed import share_dir
from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.nodes.nav2_navigation import navigate_to_pose_type
from muse_supervisor.nodes.qos import LATCHED
from muse_supervisor.params import ConfigError, param
from muse_supervisor.safety.config import GateConfig, gate_config_from_file
from muse_supervisor.sim.backend import BACKENDS, SimulatorBackend
from muse_supervisor.sim.physics import RobotModel
from muse_supervisor.sim.rollout import Nav2Presence, Prediction, Situation, Verdict
from muse_supervisor.sim.world import World, WorldError, load_world

_ODOM_WAIT = 2.0  # s a goal waits for the first odometry before it is refused


@dataclass(frozen=True)
class PlanSimulatorConfig:
    """Parameters of ``plan_simulator`` (see ``config/plan_simulator.yaml``)."""

    backend: str = param(
        'builtin', 'Simulator backend (muse_supervisor/sim/backend.py); see docs/SIMULATOR.md '
        'for plugging in another.', choices=('builtin',),
    )  # fmt: skip
    world: str = param(
        '', 'World file (map_server map, places, zones); empty: the shipped warehouse '
        '(share/muse_supervisor/config/maps/warehouse_world.yaml).',
    )  # fmt: skip
    gate_parameters: str = param(
        '', "The safety gate's parameter file, for the same limits; empty: the installed "
        'share/muse_supervisor/config/safety_gate.yaml.',
    )  # fmt: skip
    gate_node: str = param(
        'safety_gate', 'Name of the gate node (same namespace) the file is for.'
    )
    horizon: float = param(
        120.0, 'Longest stretch of simulated time a plan is rolled forward for (s).',
        minimum=1.0, maximum=3600.0,
    )  # fmt: skip
    deadline: float = param(
        10.0, 'Wall-clock seconds a goal may take; plans not evaluated by then are reported '
        'as unknown.', minimum=0.1, maximum=600.0,
    )  # fmt: skip
    workers: int = param(
        0, 'Worker processes evaluating plans in parallel; 0: one per CPU core.', minimum=0,
        maximum=64,
    )  # fmt: skip
    robot_radius: float = param(
        0.3, 'Radius of the robot footprint (m).', minimum=0.05, maximum=3.0
    )
    plan_margin: float = param(
        0.15, 'Clearance beyond the radius that planned paths keep (m), as an inflation layer.',
        minimum=0.0, maximum=2.0,
    )  # fmt: skip


# ----- worker processes: each makes its backend (loads the world) once --------------------------
_WORKER: dict[str, SimulatorBackend] = {}


def _load_worker(
    backend: str, world_path: str, gate: GateConfig, robot: RobotModel, horizon: float
) -> None:
    _WORKER['backend'] = BACKENDS[backend](Path(world_path), gate, robot, horizon)
    parent = os.getppid()

    def end_with_parent() -> None:  # a node killed outright must not leave its workers behind
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=end_with_parent, name='parent_watch', daemon=True).start()


def _evaluate(plan: Plan, situation: Situation) -> Prediction:
    return _WORKER['backend'].evaluate(plan, situation)


class PlanSimulatorNode(SupervisorNode[PlanSimulatorConfig]):
    """Predicts what each candidate plan would do (EvaluatePlan action server)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('plan_simulator', PlanSimulatorConfig, **kwargs)
        self._lock = threading.Lock()
        self._pose: Pose2D | None = None
        self._estop = False
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._world: World | None = None
        self._entities: list[Any] = []

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the world and the gate's limits; start the worker processes."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        gate_fqn = f'{self.get_namespace().rstrip("/")}/{config.gate_node}'
        try:
            world_path = config.world or str(share_dir() / 'config/maps/warehouse_world.yaml')
            gate_path = config.gate_parameters or str(share_dir() / 'config/safety_gate.yaml')
            self._world = load_world(Path(world_path))
            gate = gate_config_from_file(gate_path, gate_fqn)
        except (WorldError, ConfigError, OSError) as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        robot = RobotModel(radius=config.robot_radius, plan_margin=config.plan_margin)
        workers = config.workers or os.cpu_count() or 1
        self._pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context('spawn'),  # never fork a process with DDS
            initializer=_load_worker,
            initargs=(config.backend, world_path, gate, robot, config.horizon),
        )
        self._entities = [
            self.create_subscription(Odometry, 'odom', self._on_odom, 1),
            self.create_subscription(GateStatus, 'gate_status', self._on_status, LATCHED),
        ]
        self._nav2 = _Nav2Watch(self, gate)
        self._server = ActionServer(
            self,
            EvaluatePlan,
            'evaluate_plan',
            execute_callback=self._execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
        )
        self.get_logger().info(
            f'configured: world {self._world.name} ({world_path}), gate limits from {gate_path} '
            f'for {gate_fqn}, {workers} workers, horizon {config.horizon:g} s'
        )
        return TransitionCallbackReturn.SUCCESS

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the workers and destroy the server and subscriptions."""
        self._teardown()
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the workers."""
        self._teardown()
        return TransitionCallbackReturn.SUCCESS

    def destroy_node(self) -> None:
        """Stop the workers, then destroy the node."""
        self._teardown()
        super().destroy_node()

    def _teardown(self) -> None:
        if self._pool is not None:
            # wait=True: with wait=False, Python 3.11's exit hook can wake the pool's manager
            # thread after that thread closed its pipe, and prints a traceback (EBADF) at
            # exit. Queued evaluations are cancelled; a running one finishes (seconds at most).
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._entities:
            self._server.destroy()
            self._nav2.destroy()
            for entity in self._entities:
                self.destroy_subscription(entity)
            self._entities = []

    # ----- inputs ----------------------------------------------------------------------------
    def _on_odom(self, msg: Odometry) -> None:
        pose = msg.pose.pose
        with self._lock:
            self._pose = Pose2D(
                float(pose.position.x), float(pose.position.y), yaw_of(pose.orientation),
                float(msg.twist.twist.linear.x), float(msg.twist.twist.angular.z),
            )  # fmt: skip

    def _on_status(self, msg: GateStatus) -> None:
        with self._lock:
            self._estop = bool(msg.estop_engaged)

    # ----- the action ------------------------------------------------------------------------
    async def _execute(self, goal_handle: Any) -> EvaluatePlan.Result:
        finished: Any = Future()

        def work() -> None:
            try:
                finished.set_result(self._evaluate_goal(goal_handle))
            except BaseException as error:  # never leave a goal hanging
                result = EvaluatePlan.Result(
                    error_code=EvaluatePlan.Result.UNKNOWN,
                    error_msg=f'evaluation failed: {error!r}',
                )
                goal_handle.abort()
                finished.set_result(result)

        threading.Thread(target=work, name='evaluate_plan', daemon=True).start()
        return await finished

    def _evaluate_goal(self, goal_handle: Any) -> EvaluatePlan.Result:
        assert self.config is not None and self._world is not None
        request = goal_handle.request
        result = EvaluatePlan.Result()
        waited = time.monotonic() + _ODOM_WAIT  # a goal sent right after start-up
        while self._pose is None and time.monotonic() < waited:
            time.sleep(0.05)
        with self._lock:
            pose, estop = self._pose, self._estop
        refusal = ''
        if not request.plans:
            result.error_code, refusal = EvaluatePlan.Result.NO_PLANS, 'the goal has no plans'
        elif pose is None or self._pool is None:
            result.error_code = EvaluatePlan.Result.WORLD_UNAVAILABLE
            refusal = (
                f'no odometry on {self.resolve_topic_name("odom")} within {_ODOM_WAIT:g} s: '
                'the simulator does not know where the robot is'
            )
        if refusal:
            result.error_msg = refusal
            goal_handle.abort()
            self.get_logger().warning(f'evaluate_plan refused: {refusal}')
            return result
        assert pose is not None and self._pool is not None
        situation = Situation(pose, estop_engaged=estop, nav2=self._nav2.presence())
        plans = [plan_from_msg(plan) for plan in request.plans]
        futures = {
            self._pool.submit(_evaluate, plan, situation): i for i, plan in enumerate(plans)
        }
        evaluations: list[PlanEvaluation | None] = [None] * len(plans)
        deadline = time.monotonic() + self.config.deadline
        pending = set(futures)
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.05)
            for future in done:
                index = futures[future]
                evaluations[index] = self._evaluation(future, plans[index])
                goal_handle.publish_feedback(
                    EvaluatePlan.Feedback(
                        plans_done=sum(e is not None for e in evaluations),
                        plans_total=len(plans),
                        latest=evaluations[index],
                    )
                )
            if goal_handle.is_cancel_requested:
                for future in pending:
                    future.cancel()
                goal_handle.canceled()
                result.error_code = EvaluatePlan.Result.CANCELED
                result.error_msg = f'canceled with {len(pending)} of {len(plans)} plans to go'
                return result
            if pending and time.monotonic() > deadline:
                for future in pending:
                    future.cancel()
                break
        result.evaluations = [
            evaluation or _not_evaluated(plan, self.config.deadline)
            for evaluation, plan in zip(evaluations, plans, strict=True)
        ]
        goal_handle.succeed()
        best = min(
            (e for e in result.evaluations), key=lambda e: (e.predicted_outcome != 1, e.risk)
        )
        self.get_logger().info(
            f'evaluated {len(plans)} plans for {request.incident_id!r}; best {best.plan_id!r}: '
            f'{best.findings[0] if best.findings else ""}'
        )
        return result

    def _evaluation(
        self, future: concurrent.futures.Future[Prediction], plan: Plan
    ) -> PlanEvaluation:
        assert self._world is not None
        try:
            prediction = future.result()
        except Exception as error:  # a rollout that crashed predicts nothing: say so
            return _not_evaluated(plan, 0.0, f'simulation failed: {error!r}')
        return evaluation_msg(
            prediction, self._world.frame_id, self.get_clock().now().nanoseconds * 1e-9
        )


class _Nav2Watch:
    """Whether the gate would find Nav2 now, asked as the gate asks (same action name).

    The simulator runs in the gate's installation: without ``nav2_msgs`` here, the gate has no
    Nav2 client either and its built-in controller drives every ``navigate_to``.
    """

    def __init__(self, node: PlanSimulatorNode, gate: GateConfig) -> None:
        action_type = (
            navigate_to_pose_type() if gate.limits.navigation_backend != 'builtin' else None
        )
        self._client: Any = (
            None
            if action_type is None
            else ActionClient(node, action_type, gate.limits.nav2_action)
        )

    def presence(self) -> Nav2Presence:
        if self._client is None:
            return Nav2Presence.NOT_INSTALLED
        ready = self._client.server_is_ready()
        return Nav2Presence.ANSWERING if ready else Nav2Presence.NOT_ANSWERING

    def destroy(self) -> None:
        if self._client is not None:
            self._client.destroy()


def _not_evaluated(plan: Plan, deadline: float, why: str = '') -> PlanEvaluation:
    text = why or f'not evaluated within the deadline ({deadline:g} s)'
    return PlanEvaluation(
        plan_id=plan.id, predicted_outcome=int(Verdict.UNKNOWN), risk=1.0, failing_step=-1,
        min_clearance=math.inf, findings=[text],
    )  # fmt: skip


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``plan_simulator_node`` executable."""
    return run(PlanSimulatorNode, args)
