"""A plan rolled forward: the safety gate's own core and executors drive a simulated base.

The prediction is what execution would do, because it is execution: the plan goes through
:func:`~muse_supervisor.safety.plans.validate_plan` and the
:class:`~muse_supervisor.safety.runner.PlanRunner` against a real
:class:`~muse_supervisor.safety.gate.GateCore` (limits, ramps, braking cap, keep-out zones,
invariants). What would be the robot, Nav2 and the mission is simulated here: a differential
drive base integrating the gate's output, a range sensor ray-cast on the map, a person who is in
the protective zone when the robot comes near, a path follower standing in for Nav2 (A* on the
inflated grid), mission services that answer yes. A plan the gate would refuse or stop is
predicted infeasible for the same reason, with the same message.

Time is the rollout's own: it runs as fast as the machine allows, one gate period per step.
"""

from __future__ import annotations

import enum
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from muse_supervisor.domain.geometry import normalize_angle
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Plan
from muse_supervisor.safety.approvals import ApprovalBook, Decision, DecisionRequest
from muse_supervisor.safety.config import GateConfig
from muse_supervisor.safety.gate import GateCore, range_to_distance
from muse_supervisor.safety.plans import PlanError
from muse_supervisor.safety.runner import Outcome, PlanRunner, StepEvent
from muse_supervisor.safety.skills import (
    Navigation,
    NavigationStatus,
    NoticeKind,
    StepState,
    nav2_not_answering,
)
from muse_supervisor.sim.physics import (
    DEFAULT_ROBOT,
    Circle,
    RobotModel,
    clearance,
    contact,
    distance_ahead,
    drive,
    in_protective_zone,
    range_reading,
)
from muse_supervisor.sim.planner import Grid, inflate, plan_path
from muse_supervisor.sim.world import World, Zone

_T0 = 1000.0  # the rollout clock's origin (s): any positive time works
_INVALID = {PlanError.INVALID_PLAN, PlanError.SKILL_NOT_ALLOWED, PlanError.ARGUMENT_OUT_OF_RANGE}
Path = list[tuple[float, float]]
# Per process, bounded: grids by (map, inflation, zones, overlays), paths by (grid, start, goal).
# Each entry keeps its key object alive, so an id() in a key is never reused while cached.
_GRIDS: dict[tuple[object, ...], tuple[object, Grid]] = {}
_PATHS: dict[tuple[object, ...], tuple[Grid, Path | None]] = {}
_PATH_SAMPLE = 0.2  # s between recorded poses of the predicted path
_CORNER = 0.1  # m: the path follower heads for the next corner once this close to one


class Verdict(enum.IntEnum):
    """The predicted outcome; values equal ``PlanEvaluation.OUTCOME_*``."""

    UNKNOWN = 0
    SUCCESS = 1
    FAILURE = 2
    UNSAFE = 3
    INVALID = 4


class Nav2Presence(enum.Enum):
    """Whether the gate would hand ``navigate_to`` to Nav2 (``navigation_backend: auto``).

    Execution depends on it, so the prediction does: with Nav2 answering, Nav2 plans around the
    map (modelled by A* and a path follower); without it, the gate's built-in turn-then-drive
    controller heads straight for the goal, after waiting ``nav2_server_timeout`` when the gate
    has a Nav2 client that no server answers.
    """

    ANSWERING = 'answering'
    NOT_ANSWERING = 'not_answering'  # nav2_msgs installed, no NavigateToPose server
    NOT_INSTALLED = 'not_installed'  # no nav2_msgs where the gate runs: it never asks Nav2


@dataclass(frozen=True)
class Situation:
    """Where things stand when the plan would start."""

    pose: Pose2D
    battery: float = 1.0  # state of charge in [0, 1]
    estop_engaged: bool = False
    obstacles: tuple[Circle, ...] = ()  # solid: the robot must not touch them
    people: tuple[Circle, ...] = ()  # radius: the protective zone around the person
    spills: tuple[Circle, ...] = ()  # drivable, but driving through one is a violation
    resolved_at: tuple[float, float, float] | None = None  # (x, y, tolerance): incident goal
    nav2: Nav2Presence = Nav2Presence.ANSWERING


@dataclass(frozen=True)
class Prediction:
    """What the plan is predicted to do (the fields of ``PlanEvaluation``)."""

    plan_id: str
    verdict: Verdict
    feasible: bool
    resolves: bool
    duration: float  # s
    distance: float  # m driven
    min_clearance: float  # m, to any obstacle, person zone or keep-out zone (inf: nothing near)
    energy_wh: float
    risk: float  # [0, 1]
    failing_step: int  # -1 when none fails
    path: tuple[Pose2D, ...]
    findings: tuple[str, ...]
    explanation: str
    gate_error: PlanError = PlanError.NONE
    gate_message: str = ''


@dataclass
class _State:
    now: float
    pose: Pose2D
    energy: float = 0.0
    distance: float = 0.0
    clearance: float = math.inf
    path: list[Pose2D] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    collided: str = ''
    depleted: str = ''
    notices: list[str] = field(default_factory=list)
    step: int = 0


class _FollowPath:
    """The stand-in for Nav2: A* on the inflated grid, then pure pursuit on ``nav2_source``."""

    def __init__(self, rollout: _Rollout, goal: tuple[float, float, float]) -> None:
        self.rollout, self.goal = rollout, goal
        state = rollout.state
        self.path = rollout.path((state.pose.x, state.pose.y), (goal[0], goal[1]))
        self.total = max(1e-6, math.dist((state.pose.x, state.pose.y), goal[:2]))
        self.next = 1  # index of the path corner being driven to

    def poll(self, now: float) -> NavigationStatus:
        rollout = self.rollout
        if self.path is None:
            return NavigationStatus(StepState.FAILED, 0.0, 'no path to the goal on the map')
        pose = rollout.state.pose
        remaining = math.dist((pose.x, pose.y), self.goal[:2])
        progress = max(0.0, 1.0 - remaining / self.total)
        limits = rollout.config.limits
        if remaining <= limits.goal_tolerance:
            rollout.nav_command(0.0, 0.0)
            return NavigationStatus(StepState.SUCCEEDED, 1.0, 'goal reached')
        rollout.nav_command(*self._pursue(pose, limits.max_linear_speed * 0.8))
        return NavigationStatus(StepState.RUNNING, progress, f'{remaining:.2f} m to go')

    def cancel(self) -> None:
        self.rollout.nav_command(0.0, 0.0)  # as Nav2's controller does when a goal ends

    def _pursue(self, pose: Pose2D, speed: float) -> tuple[float, float]:
        """Turn toward the next corner of the path, drive when facing it (Nav2-like, simpler)."""
        assert self.path is not None
        while self.next < len(self.path) - 1 and (
            math.dist((pose.x, pose.y), self.path[self.next]) < _CORNER
        ):
            self.next += 1  # close enough to this corner: head for the one after it
        target = self.path[self.next]
        heading = normalize_angle(math.atan2(target[1] - pose.y, target[0] - pose.x) - pose.yaw)
        turn = max(-0.8, min(0.8, 1.5 * heading))
        if abs(heading) > 0.2:
            return 0.0, turn
        remaining = math.dist((pose.x, pose.y), self.goal[:2])
        for zone in self.rollout.world.zones:  # Nav2's speed filter: slower in slow zones
            if zone.kind == 'slow' and zone.contains(pose.x, pose.y):
                speed = min(speed, zone.max_speed)
        return min(speed, 0.8 * remaining + 0.05), turn


class _SilentNav2:
    """A Nav2 client whose server never answers: the step waits, then may fall back."""

    def __init__(self, started: float, action: str, timeout: float) -> None:
        self.started, self.action, self.timeout = started, action, timeout

    def poll(self, now: float) -> NavigationStatus:
        waited = now - self.started
        if waited > self.timeout:
            return nav2_not_answering(self.action, waited)
        return NavigationStatus(StepState.RUNNING, 0.0, f'waiting for {self.action}')

    def cancel(self) -> None:
        pass


class _Rollout:
    """One plan's rollout: the gate core, the runner, and the simulated rest of the robot."""

    def __init__(
        self, world: World, config: GateConfig, robot: RobotModel, situation: Situation
    ) -> None:
        self.world, self.robot, self.situation = world, robot, situation
        # The gate's own configuration, as it is: a waypoint or keep-out zone the world names but
        # the gate does not know would make the prediction accept what execution refuses.
        self.config = config
        self.core = GateCore(config, _T0)
        self.lock = threading.Lock()
        self.state = _State(_T0, situation.pose)
        self._last_sample = -math.inf
        core = self.core
        core.activate(_T0)
        core.estop(situation.estop_engaged, _T0)
        self._sense()

    # ----- RobotServices (what the gate node would do on the robot) -------------------------
    def notice(
        self, kind: NoticeKind, role: str, message: str, camera: str, plan_id: str, step: int
    ) -> None:
        self.state.notices.append(f'{kind.name.lower()}: {message or camera}')

    def start_trigger(self, service: str) -> None:
        pass

    def trigger_available(self, service: str) -> bool:
        return True

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        return True, f'{service}: assumed to succeed (simulated)'

    def navigate(
        self, x: float, y: float, yaw: float, frame: str, on_accepted: Callable[[], None]
    ) -> Navigation | None:
        presence = self.situation.nav2
        if presence is Nav2Presence.NOT_INSTALLED:
            return None
        if presence is Nav2Presence.NOT_ANSWERING:
            limits = self.config.limits
            return _SilentNav2(self.state.now, limits.nav2_action, limits.nav2_server_timeout)
        on_accepted()
        return _FollowPath(self, (x, y, yaw))

    # ----- the simulated robot ---------------------------------------------------------------
    def clock(self) -> float:
        return self.state.now

    def nav_command(self, linear: float, angular: float) -> None:
        """What the Nav2 controller would publish on the gate's ``nav2_source``."""
        with self.lock:
            self.core.command(
                self.config.limits.nav2_source, (linear, 0.0, 0.0), (0.0, 0.0, angular),
                self.state.now,
            )  # fmt: skip

    def grid_now(self) -> Grid:
        """The inflated grid with the situation's obstacles and the zones in force now."""
        solid = tuple((c.x, c.y, c.radius) for c in self.situation.obstacles)
        people = tuple((c.x, c.y, c.radius) for c in self.situation.people)
        # Nav2 plans around the site's keep-out mask (the world's zones) and the gate's zones.
        gate_zones = tuple(Zone(z.name, 'keep_out', z.polygon) for z in self.core.keep_out_zones)
        zones = (*(z for z in self.world.zones if z.kind == 'keep_out'), *gate_zones)
        radius = self.robot.radius + self.robot.plan_margin
        key = (id(self.world.map), radius, zones, solid + people)
        cached = _GRIDS.get(key)
        if cached is None or cached[0] is not self.world.map:
            cached = (self.world.map, inflate(self.world.map, radius, zones, solid + people))
            _remember(_GRIDS, key, cached, 16)
        return cached[1]

    def path(self, start: tuple[float, float], goal: tuple[float, float]) -> Path | None:
        """A path on :meth:`grid_now`; the k plans of one situation mostly share their paths."""
        grid = self.grid_now()
        key = (id(grid), start, goal)
        cached = _PATHS.get(key)
        if cached is None or cached[0] is not grid:
            cached = (grid, plan_path(grid, start, goal))
            _remember(_PATHS, key, cached, 256)
        return cached[1]

    def step(self, dt: float) -> None:
        """Advance the world by ``dt``: the base follows the gate's output."""
        state = self.state
        with self.lock:
            output = self.core.update(state.now)
        linear, angular = output.command.linear, output.command.angular
        state.pose = drive(state.pose, linear, angular, dt)
        state.now += dt
        state.distance += abs(linear) * dt
        state.energy += self.robot.power_w(linear, angular) * dt / 3600.0  # Wh
        self._check_contact()
        available = self.situation.battery * self.robot.battery_wh
        if state.energy > available and not state.depleted:
            state.depleted = (
                f'battery empty after {state.distance:.1f} m ({available:.2f} Wh were left)'
            )
        self._sense()
        if state.now - self._last_sample >= _PATH_SAMPLE:
            state.path.append(state.pose)
            self._last_sample = state.now

    def _sense(self) -> None:
        """Odometry, heartbeat, obstacle distance and the person signal, as the robot reports."""
        state, core, robot, situation = self.state, self.core, self.robot, self.situation
        now, pose = state.now, state.pose
        distance = distance_ahead(self.world.map, robot, situation.obstacles, pose)
        near = in_protective_zone(robot, situation.people, pose)
        with self.lock:
            core.heartbeat(now, now)
            core.odometry(pose, now)
            # Read as the gate node reads a sensor_msgs/Range (REP 117: +inf is clear).
            core.obstacle_distance(
                range_to_distance(range_reading(robot, distance), *robot.sensor_range), now
            )
            core.person_in_zone(near, now)
            zones = tuple(zone.polygon for zone in core.keep_out_zones)
        circles = (*situation.obstacles, *situation.people)
        state.clearance = min(
            state.clearance, clearance(self.world.map, robot, circles, zones, pose)
        )

    def _check_contact(self) -> None:
        state, pose = self.state, self.state.pose
        if not state.collided:
            state.collided = contact(self.world.map, self.robot, self.situation.obstacles, pose)
        for spill in self.situation.spills:
            inside = math.dist((pose.x, pose.y), (spill.x, spill.y)) < spill.radius
            finding = f'drives through {spill.name}'
            if inside and finding not in state.findings:
                state.findings.append(finding)


def simulate(
    plan: Plan,
    world: World,
    config: GateConfig,
    situation: Situation,
    robot: RobotModel = DEFAULT_ROBOT,
    horizon: float = 120.0,
    on_event: Callable[[StepEvent], None] | None = None,
) -> Prediction:
    """Roll ``plan`` forward from ``situation`` for at most ``horizon`` s of simulated time.

    Approval is assumed (the point is to show an operator what approving would do): a tier C
    plan is approved for the rollout by a pseudo-operator, after the same validation.
    """
    rollout = _Rollout(world, config, robot, situation)
    approvals = ApprovalBook(rollout.config.limits)
    approvals.learn([plan])
    approvals.decide(
        DecisionRequest('simulator', plan.id, plan.digest(), int(Decision.APPROVE)), _T0
    )
    events: list[StepEvent] = []

    def record(event: StepEvent) -> None:
        rollout.state.step = event.index
        events.append(event)
        if on_event is not None:
            on_event(event)

    runner = PlanRunner(
        rollout.core, rollout.lock, plan, rollout, approvals, record, rollout.clock
    )
    deadline = _T0 + horizon
    outcome = runner.run(
        rollout.clock,
        rollout.step,
        lambda: (
            rollout.state.now >= deadline or bool(rollout.state.collided or rollout.state.depleted)
        ),
    )
    return _predict(plan, rollout, outcome, horizon)


def _predict(plan: Plan, rollout: _Rollout, outcome: Outcome, horizon: float) -> Prediction:
    state = rollout.state
    findings = list(state.findings)
    error, message = outcome.error, outcome.message
    if state.collided:
        findings.insert(0, state.collided)
        error, message = PlanError.STEP_FAILED, state.collided
    elif state.depleted:
        error, message = PlanError.STEP_FAILED, state.depleted
    elif error is PlanError.CANCELED:
        error, message = PlanError.STEP_TIMEOUT, f'not finished within {horizon:g} s'
    if error is not PlanError.NONE:
        findings.insert(0, f'{error.name.lower()}: {message}')
    resolved_at = rollout.situation.resolved_at
    reached = (
        resolved_at is None
        or math.dist((state.pose.x, state.pose.y), resolved_at[:2]) <= resolved_at[2]
    )
    if error in _INVALID:
        verdict = Verdict.INVALID
    elif state.collided or error is PlanError.SAFETY_INVARIANT_ACTIVE:
        verdict = Verdict.UNSAFE
    elif error is not PlanError.NONE or not reached:
        verdict = Verdict.FAILURE
    else:
        verdict = Verdict.UNSAFE if findings else Verdict.SUCCESS
    if verdict is Verdict.FAILURE and error is PlanError.NONE:
        findings.append('plan completes but the incident is not resolved where expected')
    feasible = error is PlanError.NONE and not state.collided
    resolves = verdict is Verdict.SUCCESS
    risk = _risk(verdict, state.clearance, plan)
    failing = (
        -1 if error is PlanError.NONE and not state.collided else max(0, outcome.steps_completed)
    )
    explanation = {
        Verdict.SUCCESS: f'resolves the incident in {state.now - _T0:.1f} s, '
        f'{state.distance:.1f} m, closest approach {state.clearance:.2f} m',
        Verdict.INVALID: f'the gate would refuse it: {message}',
        Verdict.UNSAFE: f'unsafe: {findings[0] if findings else message}',
        Verdict.FAILURE: f'does not resolve the incident: {findings[0] if findings else message}',
    }.get(verdict, message)
    return Prediction(
        plan_id=plan.id, verdict=verdict, feasible=feasible, resolves=resolves,
        duration=state.now - _T0, distance=state.distance, min_clearance=state.clearance,
        energy_wh=state.energy, risk=risk, failing_step=failing, path=tuple(state.path),
        findings=tuple(findings), explanation=explanation, gate_error=error,
        gate_message=message,
    )  # fmt: skip


def _risk(verdict: Verdict, clearance: float, plan: Plan) -> float:
    """A risk score in [0, 1]: unsafe is 1; otherwise closeness and what the plan may do.

    0.5 x (1 - clearance / 1 m, floored at 0) for how close the robot comes to anything,
    + 0.3 for a tier C plan (it resets faults or resumes a mission), + 0.2 when it fails.
    """
    if verdict in (Verdict.UNSAFE, Verdict.INVALID):
        return 1.0
    closeness = 0.0 if math.isinf(clearance) else max(0.0, 1.0 - clearance / 1.0)
    score = 0.5 * closeness + (0.3 if plan.tier >= 3 else 0.0)
    score += 0.2 if verdict is Verdict.FAILURE else 0.0
    return min(1.0, score)


_RANK = {Verdict.SUCCESS: 0, Verdict.FAILURE: 1, Verdict.UNKNOWN: 2, Verdict.UNSAFE: 3,
         Verdict.INVALID: 4}  # fmt: skip


def rank(predictions: list[Prediction]) -> list[Prediction]:
    """Best first: plans that resolve the incident, then lower risk, then sooner.

    Unsafe and invalid plans always come last, whatever else they promise: they never reach the
    top of an operator's list.
    """
    return sorted(predictions, key=lambda p: (_RANK[p.verdict], p.risk, p.duration))


def _remember(cache: dict[Any, Any], key: Any, value: Any, size: int) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.pop(next(iter(cache)))
