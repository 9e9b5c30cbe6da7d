"""Skill executors: how the gate carries out each step of an approved plan.

Each executor is started with a step and then ticked at the gate's rate; it returns the motion it
wants (which still goes through every rule of :class:`~muse_supervisor.safety.gate.GateCore`),
its progress, and whether it has finished. Executors never publish anything themselves: side
effects (operator notices, service calls, speed caps, temporary keep-out zones) go through the
:class:`SkillContext` the node provides, so the core stays free of ROS.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

from muse_supervisor.domain import Skill
from muse_supervisor.domain.geometry import normalize_angle, point_in_polygon
from muse_supervisor.domain.motion import ZERO, Pose2D, Velocity
from muse_supervisor.domain.plans import Step
from muse_supervisor.safety.config import GateConfig, KeepOutZone

# Gentle speeds for recovery motion: well inside any sane limit, and capped again by the gate.
RECOVERY_SPEED = 0.2  # m/s
RECOVERY_TURN_RATE = 0.5  # rad/s
DEFAULT_STEP_TIMEOUT = 60.0  # s, when a step gives none
DEFAULT_REROUTE_RADIUS = 1.0  # m around the area to avoid, when the step gives none


class StepState(enum.IntEnum):
    """Where a step stands."""

    RUNNING = 0
    SUCCEEDED = 1
    FAILED = 2


@dataclass(frozen=True)
class StepUpdate:
    """One tick of a step: motion wanted (``None``: none commanded), progress, state, words."""

    state: StepState
    command: Velocity | None
    progress: float
    text: str


@dataclass(frozen=True)
class NavigationStatus:
    """Where a goal handed to a navigation stack stands.

    ``unavailable``: the stack did not answer and no goal was sent, so the step may fall back to
    the built-in controller (``navigation_backend: auto``).
    """

    state: StepState
    progress: float
    text: str
    unavailable: bool = False


def nav2_not_answering(action: str, waited: float) -> NavigationStatus:
    """The step's status once the Nav2 server has not answered for ``nav2_server_timeout``.

    One wording for the gate's Nav2 client and for the simulator's model of a silent Nav2, so
    a prediction gives the reason execution would give.
    """
    return NavigationStatus(
        StepState.FAILED,
        0.0,
        f'Nav2 action server {action} did not answer within {waited:.1f} s',
        unavailable=True,
    )


class Navigation(Protocol):
    """A goal handed to a navigation stack (Nav2) that drives through a command source."""

    def poll(self, now: float) -> NavigationStatus:
        """Where the goal stands at ``now``."""

    def cancel(self) -> None:
        """Give up the goal (no-op once it has finished)."""


class NoticeKind(enum.IntEnum):
    """Values equal ``OperatorNotice.KIND_*``."""

    REQUEST_OPERATOR = 1
    NOTIFY = 2
    CAPTURE_EVIDENCE = 3


class SkillContext(Protocol):
    """What executors may do beyond commanding motion; the node implements it."""

    config: GateConfig

    def pose(self) -> Pose2D | None:
        """The robot's latest fresh pose, or ``None``."""

    def notice(self, kind: NoticeKind, role: str, message: str, camera: str) -> None:
        """Publish a notice for the HMI (request_operator, notify, capture_evidence)."""

    def set_speed_cap(self, cap: float | None) -> None:
        """Cap forward speed for the rest of the plan."""

    def add_keep_out(self, zone: KeepOutZone) -> None:
        """Add a keep-out zone for the rest of the plan."""

    def start_trigger(self, service: str) -> None:
        """Call a std_srvs/Trigger service asynchronously (once it is available)."""

    def trigger_available(self, service: str) -> bool:
        """Whether ``service`` has been found, so that the call is on its way."""

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        """(success, message) of the last call to ``service``, ``None`` while pending."""

    def navigate(self, x: float, y: float, yaw: float, frame: str) -> Navigation | None:
        """Hand a goal to the navigation stack; ``None`` means: use the built-in controller.

        ``frame`` is the goal's frame, ``''`` for a configured waypoint.
        """


class SkillExecutor:
    """Base: a step that finishes at once unless a subclass says otherwise."""

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        self.step = step
        self.started = now
        self.context = context

    def tick(self, now: float) -> StepUpdate:
        """Advance the step to ``now``."""
        return StepUpdate(StepState.SUCCEEDED, None, 1.0, 'done')

    def close(self) -> None:
        """The step has ended (done, failed, timed out or canceled): let go of what it holds."""

    def _text(self, name: str) -> str:
        argument = self.step.argument(name)
        return argument.text if argument is not None else ''

    def _number(self, name: str, default: float = 0.0) -> float:
        argument = self.step.argument(name)
        return argument.number if argument is not None else default


class StopExecutor(SkillExecutor):
    """Ramp to a standstill (the gate's decel limit shapes the ramp) and confirm it."""

    def tick(self, now: float) -> StepUpdate:
        pose = self.context.pose()
        limits = self.context.config.limits
        settle = limits.max_linear_speed / limits.max_linear_decel + 0.2
        still = pose is not None and abs(pose.linear) < 0.01 and abs(pose.angular) < 0.01
        if still or now - self.started >= settle:
            return StepUpdate(StepState.SUCCEEDED, ZERO, 1.0, 'stopped')
        return StepUpdate(
            StepState.RUNNING, ZERO, min(1.0, (now - self.started) / settle), 'stopping'
        )


class WaitExecutor(SkillExecutor):
    """Hold still for the given seconds."""

    def tick(self, now: float) -> StepUpdate:
        seconds = self._number('seconds')
        elapsed = now - self.started
        if elapsed >= seconds:
            return StepUpdate(StepState.SUCCEEDED, ZERO, 1.0, f'waited {seconds:g} s')
        return StepUpdate(StepState.RUNNING, ZERO, elapsed / seconds, f'waiting {seconds:g} s')


class SlowDownExecutor(SkillExecutor):
    """Cap forward speed for the rest of the plan."""

    def tick(self, now: float) -> StepUpdate:
        cap = self._number('max_speed')
        self.context.set_speed_cap(cap)
        return StepUpdate(StepState.SUCCEEDED, None, 1.0, f'speed capped at {cap:g} m/s')


class NoticeExecutor(SkillExecutor):
    """request_operator, notify and capture_evidence: a notice for the HMI."""

    KINDS = {
        Skill.REQUEST_OPERATOR: NoticeKind.REQUEST_OPERATOR,
        Skill.NOTIFY: NoticeKind.NOTIFY,
        Skill.CAPTURE_EVIDENCE: NoticeKind.CAPTURE_EVIDENCE,
    }

    def tick(self, now: float) -> StepUpdate:
        kind = self.KINDS[Skill(self.step.skill)]
        self.context.notice(kind, self._text('role'), self._text('message'), self._text('camera'))
        return StepUpdate(StepState.SUCCEEDED, None, 1.0, f'{kind.name.lower()} sent')


class ReverseExecutor(SkillExecutor):
    """Back up the given distance along the current heading, measured by odometry."""

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        super().__init__(step, now, context)
        self.origin = context.pose()

    def tick(self, now: float) -> StepUpdate:
        pose = self.context.pose()
        if pose is None or self.origin is None:
            self.origin = self.origin or pose
            return StepUpdate(StepState.RUNNING, ZERO, 0.0, 'waiting for odometry')
        distance = self._number('distance')
        travelled = math.hypot(pose.x - self.origin.x, pose.y - self.origin.y)
        if travelled >= distance - 0.01:
            return StepUpdate(StepState.SUCCEEDED, ZERO, 1.0, f'reversed {travelled:.2f} m')
        speed = min(RECOVERY_SPEED, max(0.05, distance - travelled))
        progress = travelled / distance if distance > 0 else 1.0
        return StepUpdate(
            StepState.RUNNING, Velocity(-speed, 0.0), progress, f'reversing {travelled:.2f} m'
        )


class RotateExecutor(SkillExecutor):
    """Turn in place by an angle (relocalize: one full slow turn), tracking odometry yaw."""

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        super().__init__(step, now, context)
        full_turn = Skill(step.skill) is Skill.RELOCALIZE
        self.goal = 2 * math.pi if full_turn else self._number('angle')
        self.turned = 0.0
        self.last_yaw: float | None = None

    def tick(self, now: float) -> StepUpdate:
        pose = self.context.pose()
        if pose is None:
            return StepUpdate(StepState.RUNNING, ZERO, 0.0, 'waiting for odometry')
        if self.last_yaw is not None:
            self.turned += normalize_angle(pose.yaw - self.last_yaw)
        self.last_yaw = pose.yaw
        remaining = self.goal - self.turned
        if abs(remaining) < 0.02:
            return StepUpdate(StepState.SUCCEEDED, ZERO, 1.0, f'turned {self.turned:.2f} rad')
        rate = math.copysign(min(RECOVERY_TURN_RATE, max(0.1, 2.0 * abs(remaining))), remaining)
        progress = min(1.0, abs(self.turned) / abs(self.goal)) if self.goal else 1.0
        return StepUpdate(
            StepState.RUNNING, Velocity(0.0, rate), progress, f'turning, {remaining:.2f} rad left'
        )


class NavigateExecutor(SkillExecutor):
    """Drive to a waypoint or pose: through Nav2 when configured and up, else built-in.

    ``navigate_to`` hands the goal to the navigation stack (the context decides by
    ``navigation_backend``); Nav2 then drives, and its controller's commands still pass every
    rule of the gate. ``dock``, and ``navigate_to`` without Nav2, use the built-in turn-then-drive
    controller: short, slow recovery moves in the open, capped again by the gate. Docking itself
    (the last centimetres onto a charger) is a docking server's job, not NavigateToPose's.
    """

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        super().__init__(step, now, context)
        docking = Skill(step.skill) is Skill.DOCK
        argument = step.argument('station' if docking else 'target')
        self.goal: tuple[float, float, float] | None = None
        frame = ''  # a waypoint: the configured frame
        if argument is not None and argument.pose is not None:
            self.goal = (argument.pose.x, argument.pose.y, argument.pose.yaw)
            frame = argument.pose.frame_id
        elif argument is not None:
            waypoint = context.config.waypoint(argument.text)
            if waypoint is not None:
                self.goal = (waypoint.x, waypoint.y, waypoint.yaw)
        self.start_distance: float | None = None
        self.navigation = None
        if not docking and self.goal is not None:
            self.navigation = context.navigate(*self.goal, frame)
        self.fallback = ''

    def tick(self, now: float) -> StepUpdate:
        if self.goal is None:
            return StepUpdate(StepState.FAILED, ZERO, 0.0, 'no target to navigate to')
        if self.navigation is not None:
            status = self.navigation.poll(now)
            if not status.unavailable or self.context.config.limits.navigation_backend == 'nav2':
                # Motion comes from Nav2's controller through the delegated source: none here.
                return StepUpdate(status.state, None, status.progress, f'nav2: {status.text}')
            self.navigation, self.fallback = None, f' (built-in: {status.text})'
        update = self._built_in()
        return StepUpdate(
            update.state, update.command, update.progress, update.text + self.fallback
        )

    def close(self) -> None:
        if self.navigation is not None:
            self.navigation.cancel()

    def _built_in(self) -> StepUpdate:
        assert self.goal is not None
        pose = self.context.pose()
        if pose is None:
            return StepUpdate(StepState.RUNNING, ZERO, 0.0, 'waiting for odometry')
        dx, dy = self.goal[0] - pose.x, self.goal[1] - pose.y
        distance = math.hypot(dx, dy)
        if self.start_distance is None:
            self.start_distance = max(distance, 1e-6)
        progress = max(0.0, 1.0 - distance / self.start_distance)
        if distance <= self.context.config.limits.goal_tolerance:
            return StepUpdate(StepState.SUCCEEDED, ZERO, 1.0, 'arrived')
        heading_error = normalize_angle(math.atan2(dy, dx) - pose.yaw)
        turn = max(-RECOVERY_TURN_RATE, min(RECOVERY_TURN_RATE, 1.5 * heading_error))
        if abs(heading_error) > 0.3:
            return StepUpdate(StepState.RUNNING, Velocity(0.0, turn), progress, 'turning to goal')
        speed = min(RECOVERY_SPEED * 1.5, 0.8 * distance)
        return StepUpdate(
            StepState.RUNNING, Velocity(speed, turn), progress, f'{distance:.2f} m to go'
        )


class RerouteExecutor(SkillExecutor):
    """Mark the area to avoid as a keep-out zone the gate enforces, then ask the mission to retry.

    The re-planning itself belongs to the navigation stack (Nav2's planner); the gate makes sure
    the robot cannot drive into the avoided area whatever the planner does.
    """

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        super().__init__(step, now, context)
        self.called_at: float | None = None

    def tick(self, now: float) -> StepUpdate:
        service = self.context.config.limits.retry_step_service
        if self.called_at is None:
            avoid = self.step.argument('avoid')
            radius = self._number('radius', DEFAULT_REROUTE_RADIUS)  # the schema bounds it
            center = None
            if avoid is not None and avoid.pose is not None:
                center = (avoid.pose.x, avoid.pose.y)
            elif avoid is not None:
                waypoint = self.context.config.waypoint(avoid.text)
                center = (waypoint.x, waypoint.y) if waypoint is not None else None
            if center is None:
                return StepUpdate(StepState.FAILED, ZERO, 0.0, 'unknown area to avoid')
            pose = self.context.pose()
            if pose is None:
                return StepUpdate(StepState.RUNNING, ZERO, 0.0, 'waiting for odometry')
            x, y = center
            square = ((x - radius, y - radius), (x + radius, y - radius),
                      (x + radius, y + radius), (x - radius, y + radius))  # fmt: skip
            if point_in_polygon(pose.x, pose.y, square):
                # Enforcing it would latch a keep-out stop around the robot that outlives the
                # plan: refuse instead, and let an operator or another plan move it out first.
                return StepUpdate(
                    StepState.FAILED, ZERO, 0.0,
                    f'robot at ({pose.x:.2f}, {pose.y:.2f}) is inside the area to avoid '
                    f'({radius:g} m around ({x:.2f}, {y:.2f})): move it out first',
                )  # fmt: skip
            self.context.add_keep_out(KeepOutZone('reroute', square))
            self.context.start_trigger(service)
            self.called_at = now
        return _trigger_update(self.context, service, 'reroute', self.called_at, now)


class TriggerExecutor(SkillExecutor):
    """retry_step, reset_fault and resume_mission: a std_srvs/Trigger call to the robot."""

    def __init__(self, step: Step, now: float, context: SkillContext) -> None:
        super().__init__(step, now, context)
        limits = context.config.limits
        skill = Skill(step.skill)
        if skill is Skill.RESET_FAULT:
            self.service = f'{limits.reset_fault_service}/{self._text("device")}'
        elif skill is Skill.RESUME_MISSION:
            self.service = limits.resume_mission_service
        else:
            self.service = limits.retry_step_service
        context.start_trigger(self.service)

    def tick(self, now: float) -> StepUpdate:
        what = Skill(self.step.skill).name.lower()
        return _trigger_update(self.context, self.service, what, self.started, now)


def _trigger_update(
    context: SkillContext, service: str, what: str, started: float, now: float
) -> StepUpdate:
    result = context.trigger_result(service)
    if result is None:
        timeout = context.config.limits.service_timeout
        if not context.trigger_available(service) and now - started > timeout:
            return StepUpdate(
                StepState.FAILED, None, 0.0, f'{what}: service {service} not available '
                f'within service_timeout {timeout:g} s',
            )  # fmt: skip
        return StepUpdate(StepState.RUNNING, None, 0.5, f'{what}: waiting for {service}')
    ok, message = result
    state = StepState.SUCCEEDED if ok else StepState.FAILED
    return StepUpdate(state, None, 1.0, f'{what}: {service} answered {message!r}')


EXECUTORS: dict[Skill, type[SkillExecutor]] = {
    Skill.STOP: StopExecutor,
    Skill.WAIT: WaitExecutor,
    Skill.SLOW_DOWN: SlowDownExecutor,
    Skill.REQUEST_OPERATOR: NoticeExecutor,
    Skill.NOTIFY: NoticeExecutor,
    Skill.CAPTURE_EVIDENCE: NoticeExecutor,
    Skill.REVERSE: ReverseExecutor,
    Skill.ROTATE: RotateExecutor,
    Skill.RELOCALIZE: RotateExecutor,
    Skill.NAVIGATE_TO: NavigateExecutor,
    Skill.REROUTE: RerouteExecutor,
    Skill.DOCK: NavigateExecutor,
    Skill.RETRY_STEP: TriggerExecutor,
    Skill.RESET_FAULT: TriggerExecutor,
    Skill.RESUME_MISSION: TriggerExecutor,
}


def step_timeout(step: Step) -> float:
    """Seconds the step may take: its own timeout, or the default."""
    if step.timeout > 0:
        return step.timeout
    if Skill(step.skill) is Skill.WAIT:
        seconds = step.argument('seconds')
        return (seconds.number if seconds is not None else 0.0) + 5.0
    return DEFAULT_STEP_TIMEOUT
