"""Skill executors: each plan step does what its name says, measured on a small simulation.

A fake SkillContext records side effects (notices, caps, zones, service calls) and a kinematic
unicycle integrates the commanded velocity into the pose the executors read back. Time is a fake
clock; nothing sleeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import pytest

from muse_supervisor.domain import ArgumentType, Skill
from muse_supervisor.domain.geometry import normalize_angle, point_in_polygon
from muse_supervisor.domain.motion import ZERO, Pose2D, Velocity
from muse_supervisor.domain.plans import Argument, PoseTarget, Step
from muse_supervisor.safety.config import GateConfig, GateLimits, KeepOutZone, Waypoint
from muse_supervisor.safety.gate import GateCore
from muse_supervisor.safety.skills import (
    DEFAULT_STEP_TIMEOUT,
    EXECUTORS,
    NavigationStatus,
    NoticeKind,
    SkillExecutor,
    StepState,
    StepUpdate,
    step_timeout,
)

CONFIG = GateConfig(waypoints=(Waypoint('dock_1', 2.0, 1.0, 0.0),))
DT = CONFIG.period
T0 = 50.0


def num(name: str, value: float) -> Argument:
    return Argument(name, int(ArgumentType.NUMBER), number=value)


def text(name: str, value: str) -> Argument:
    return Argument(name, int(ArgumentType.TEXT), text=value)


def pose_arg(name: str, x: float, y: float, yaw: float = 0.0) -> Argument:
    return Argument(name, int(ArgumentType.POSE), pose=PoseTarget('odom', x, y, yaw))


@dataclass
class FakeContext:
    """What the node gives executors, recording every side effect."""

    config: GateConfig = CONFIG
    current: Pose2D | None = field(default_factory=lambda: Pose2D(0.0, 0.0, 0.0))
    notices: list[tuple[NoticeKind, str, str, str]] = field(default_factory=list)
    caps: list[float | None] = field(default_factory=list)
    zones: list[KeepOutZone] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    results: dict[str, tuple[bool, str]] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)
    navigation: FakeNavigation | None = None
    goals: list[tuple[float, float, float, str]] = field(default_factory=list)

    def pose(self) -> Pose2D | None:
        return self.current

    def notice(self, kind: NoticeKind, role: str, message: str, camera: str) -> None:
        self.notices.append((kind, role, message, camera))

    def set_speed_cap(self, cap: float | None) -> None:
        self.caps.append(cap)

    def add_keep_out(self, zone: KeepOutZone) -> None:
        self.zones.append(zone)

    def start_trigger(self, service: str) -> None:
        self.started.append(service)

    def trigger_available(self, service: str) -> bool:
        return service not in self.unavailable

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        return self.results.get(service)

    def navigate(self, x: float, y: float, yaw: float, frame: str) -> FakeNavigation | None:
        self.goals.append((x, y, yaw, frame))
        return self.navigation


@dataclass
class FakeNavigation:
    """A navigation stack that reports the statuses it is given, one per poll (last repeats)."""

    statuses: list[NavigationStatus]
    polls: int = 0
    canceled: bool = False

    def poll(self, now: float) -> NavigationStatus:
        self.polls += 1
        return self.statuses[min(self.polls, len(self.statuses)) - 1]

    def cancel(self) -> None:
        self.canceled = True


@dataclass
class Sim:
    """A unicycle: integrates the commanded velocity into the pose, keeping the unwrapped yaw."""

    context: FakeContext
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0  # unwrapped: total turn is measurable
    commands: list[Velocity | None] = field(default_factory=list)
    updates: list[StepUpdate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.publish(ZERO)

    def publish(self, velocity: Velocity) -> None:
        self.context.current = Pose2D(
            self.x, self.y, normalize_angle(self.yaw), velocity.linear, velocity.angular
        )

    def integrate(self, command: Velocity | None) -> None:
        velocity = command if command is not None else ZERO
        self.x += velocity.linear * math.cos(self.yaw) * DT
        self.y += velocity.linear * math.sin(self.yaw) * DT
        self.yaw += velocity.angular * DT
        self.publish(velocity)

    def run(self, executor: SkillExecutor, start: float, limit: float = 120.0) -> StepUpdate:
        now = start
        while now - start <= limit:
            update = executor.tick(now)
            self.updates.append(update)
            self.commands.append(update.command)
            if update.state is not StepState.RUNNING:
                return update
            assert 0.0 <= update.progress <= 1.0, update
            self.integrate(update.command)
            now += DT
        raise AssertionError(f'step still running after {limit} s: {self.updates[-1]}')


def start(
    skill: Skill, *args: Argument, context: FakeContext | None = None, now: float = T0
) -> tuple[SkillExecutor, FakeContext]:
    context = context or FakeContext()
    step = Step(int(skill), args)
    return EXECUTORS[skill](step, now, context), context


def test_every_skill_has_an_executor() -> None:
    assert set(EXECUTORS) == set(Skill)


# ----- motion ------------------------------------------------------------------------------------
@pytest.mark.parametrize('distance', [0.05, 0.3, 0.5, 1.0])
@pytest.mark.parametrize('heading', [0.0, 0.7, -2.5])
def test_reverse_backs_up_the_distance_and_only_backwards(distance: float, heading: float) -> None:
    context = FakeContext(current=Pose2D(1.0, 2.0, heading))
    sim = Sim(context, x=1.0, y=2.0, yaw=heading)
    executor, _ = start(Skill.REVERSE, num('distance', distance), context=context)
    final = sim.run(executor, T0, limit=30.0)
    assert final.state is StepState.SUCCEEDED and final.command == ZERO
    dx, dy = sim.x - 1.0, sim.y - 2.0
    along = dx * math.cos(heading) + dy * math.sin(heading)
    across = -dx * math.sin(heading) + dy * math.cos(heading)
    assert along == pytest.approx(-distance, abs=0.03)  # backwards, by the distance
    assert abs(across) < 1e-9
    assert sim.yaw == heading
    moving = [c for c in sim.commands if c is not None]
    assert all(c.linear <= 0.0 and c.angular == 0.0 for c in moving)
    assert all(abs(c.linear) <= 0.2 + 1e-12 for c in moving)  # gentle recovery speed
    assert sim.updates[-2].progress > 0.5


def test_reverse_waits_for_odometry_without_moving() -> None:
    context = FakeContext(current=None)
    executor, _ = start(Skill.REVERSE, num('distance', 0.5), context=context)
    for k in range(10):
        update = executor.tick(T0 + k * DT)
        assert update.state is StepState.RUNNING and update.command == ZERO
    sim = Sim(context, x=3.0, y=0.0, yaw=0.0)
    final = sim.run(executor, T0 + 1.0, limit=30.0)
    assert final.state is StepState.SUCCEEDED
    assert sim.x == pytest.approx(2.5, abs=0.03)


@pytest.mark.parametrize('angle', [math.pi / 2, -1.0, 3.0, -2 * math.pi, 2 * math.pi, 0.3])
def test_rotate_turns_by_the_angle_in_place(angle: float) -> None:
    context = FakeContext(current=Pose2D(0.5, -0.5, 3.0))
    sim = Sim(context, x=0.5, y=-0.5, yaw=3.0)  # near the +/-pi wrap
    executor, _ = start(Skill.ROTATE, num('angle', angle), context=context)
    final = sim.run(executor, T0, limit=60.0)
    assert final.state is StepState.SUCCEEDED and final.command == ZERO
    assert sim.yaw - 3.0 == pytest.approx(angle, abs=0.03)
    assert (sim.x, sim.y) == (0.5, -0.5)
    moving = [c for c in sim.commands if c is not None]
    assert all(c.linear == 0.0 and abs(c.angular) <= 0.5 + 1e-12 for c in moving)


def test_relocalize_turns_once_around() -> None:
    context = FakeContext()
    sim = Sim(context)
    executor, _ = start(Skill.RELOCALIZE, context=context)
    final = sim.run(executor, T0, limit=60.0)
    assert final.state is StepState.SUCCEEDED
    assert sim.yaw == pytest.approx(2 * math.pi, abs=0.03)
    assert (sim.x, sim.y) == (0.0, 0.0)


@pytest.mark.parametrize(
    ('start_pose', 'skill', 'target'),
    [
        ((0.0, 0.0, 0.0), Skill.NAVIGATE_TO, text('target', 'dock_1')),
        ((0.0, 0.0, math.pi), Skill.NAVIGATE_TO, text('target', 'dock_1')),  # facing away
        ((5.0, -3.0, 1.0), Skill.NAVIGATE_TO, text('target', 'dock_1')),
        ((0.0, 0.0, 0.0), Skill.NAVIGATE_TO, pose_arg('target', -1.5, 2.5)),
        ((1.0, 1.0, -2.0), Skill.DOCK, text('station', 'dock_1')),
    ],
)
def test_navigate_arrives_within_goal_tolerance(
    start_pose: tuple[float, float, float], skill: Skill, target: Argument
) -> None:
    x, y, yaw = start_pose
    context = FakeContext(current=Pose2D(x, y, yaw))
    sim = Sim(context, x=x, y=y, yaw=yaw)
    executor, _ = start(skill, target, context=context)
    final = sim.run(executor, T0, limit=120.0)
    assert final.state is StepState.SUCCEEDED and final.command == ZERO
    goal = (2.0, 1.0) if target.pose is None else (target.pose.x, target.pose.y)
    distance = math.hypot(sim.x - goal[0], sim.y - goal[1])
    assert distance <= CONFIG.limits.goal_tolerance
    moving = [c for c in sim.commands if c is not None]
    assert all(0.0 <= c.linear <= 0.3 + 1e-12 and abs(c.angular) <= 0.5 + 1e-12 for c in moving)
    progress = [u.progress for u in sim.updates]
    assert progress[-1] == 1.0 and max(progress[:-1]) > 0.8


def test_navigate_to_an_unknown_waypoint_fails_without_moving() -> None:
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_9'))
    update = executor.tick(T0)
    assert update.state is StepState.FAILED and update.command == ZERO


def test_navigate_through_the_gate_arrives() -> None:
    """The executor's commands pass the gate's rules (ramps, caps) and still arrive."""
    gate = GateCore(CONFIG, T0)
    gate.activate(T0)
    gate.estop(False, T0)
    context = FakeContext(current=Pose2D(0.0, 0.0, math.pi))
    sim = Sim(context, yaw=math.pi)
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_1'), context=context)
    gate.set_plan_running(True, T0)
    now, update = T0, executor.tick(T0)
    while update.state is StepState.RUNNING and now < T0 + 120.0:
        assert context.current is not None
        gate.heartbeat(now, now)
        gate.odometry(context.current, now)
        gate.plan_command(update.command, now)
        out = gate.update(now)
        assert not out.stops, out
        sim.integrate(out.command)
        now += DT
        update = executor.tick(now)
    assert update.state is StepState.SUCCEEDED
    assert math.hypot(sim.x - 2.0, sim.y - 1.0) <= CONFIG.limits.goal_tolerance


RUNNING_NAV = NavigationStatus(StepState.RUNNING, 0.4, '1.20 m to go')
ARRIVED_NAV = NavigationStatus(StepState.SUCCEEDED, 1.0, 'arrived (Nav2)')
NO_SERVER = NavigationStatus(StepState.FAILED, 0.0, 'no server within 1.0 s', unavailable=True)


def test_navigate_to_through_a_navigation_stack_commands_no_motion_of_its_own() -> None:
    navigation = FakeNavigation([RUNNING_NAV, RUNNING_NAV, ARRIVED_NAV])
    context = FakeContext(navigation=navigation)
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_1'), context=context)
    assert context.goals == [(2.0, 1.0, 0.0, '')]  # the waypoint's pose; the configured frame
    updates = [executor.tick(T0 + i * DT) for i in range(3)]
    assert [u.state for u in updates] == [StepState.RUNNING] * 2 + [StepState.SUCCEEDED]
    # Nav2's controller drives (through the delegated source): the step commands nothing.
    assert all(u.command is None for u in updates)
    assert updates[0].progress == 0.4 and updates[0].text == 'nav2: 1.20 m to go'
    executor.close()
    assert navigation.canceled  # harmless once done; stops Nav2 when the step is cut short


def test_navigate_to_pose_argument_goes_to_the_navigation_stack_as_given() -> None:
    context = FakeContext(navigation=FakeNavigation([RUNNING_NAV]))
    start(Skill.NAVIGATE_TO, pose_arg('target', -1.5, 2.5, 0.7), context=context)
    assert context.goals == [(-1.5, 2.5, 0.7, 'odom')]  # in the argument's own frame


def test_navigation_failure_fails_the_step() -> None:
    aborted = NavigationStatus(StepState.FAILED, 0.0, 'Nav2 aborted the goal (error_code 104)')
    context = FakeContext(navigation=FakeNavigation([RUNNING_NAV, aborted]))
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_1'), context=context)
    executor.tick(T0)
    update = executor.tick(T0 + DT)
    assert update.state is StepState.FAILED and 'error_code 104' in update.text


def test_auto_falls_back_to_the_built_in_controller_when_nav2_does_not_answer() -> None:
    context = FakeContext(navigation=FakeNavigation([NO_SERVER]))
    sim = Sim(context)
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_1'), context=context)
    final = sim.run(executor, T0)
    assert final.state is StepState.SUCCEEDED
    assert math.hypot(sim.x - 2.0, sim.y - 1.0) <= CONFIG.limits.goal_tolerance
    assert 'built-in: no server' in final.text


def test_nav2_backend_fails_the_step_when_nav2_does_not_answer() -> None:
    config = replace(CONFIG, limits=replace(CONFIG.limits, navigation_backend='nav2'))
    context = FakeContext(config=config, navigation=FakeNavigation([NO_SERVER]))
    executor, _ = start(Skill.NAVIGATE_TO, text('target', 'dock_1'), context=context)
    update = executor.tick(T0)
    assert update.state is StepState.FAILED and update.command is None
    assert 'no server' in update.text


def test_dock_never_hands_the_approach_to_the_navigation_stack() -> None:
    context = FakeContext(navigation=FakeNavigation([RUNNING_NAV]))
    executor, _ = start(Skill.DOCK, text('station', 'dock_1'), context=context)
    assert context.goals == []
    assert executor.tick(T0).command is not None  # the built-in controller drives


# ----- holding still -----------------------------------------------------------------------------
@pytest.mark.parametrize('seconds', [0.5, 2.0, 12.5])
def test_wait_succeeds_only_after_its_seconds_and_commands_zero(seconds: float) -> None:
    executor, _ = start(Skill.WAIT, num('seconds', seconds))
    last_progress = -1.0
    k = 0
    while k * DT < seconds - 1e-9:
        update = executor.tick(T0 + k * DT)
        assert update.state is StepState.RUNNING, (k, update)
        assert update.command == ZERO  # holds still, explicitly
        assert last_progress <= update.progress < 1.0
        last_progress = update.progress
        k += 1
    update = executor.tick(T0 + seconds)
    assert update.state is StepState.SUCCEEDED and update.command == ZERO


def test_wait_zero_seconds_succeeds_at_once() -> None:
    executor, _ = start(Skill.WAIT, num('seconds', 0.0))
    assert executor.tick(T0).state is StepState.SUCCEEDED


def test_stop_commands_zero_until_the_robot_is_still() -> None:
    context = FakeContext(current=Pose2D(0.0, 0.0, 0.0, 0.4, 0.0))  # still moving
    executor, _ = start(Skill.STOP, context=context)
    update = executor.tick(T0 + 0.1)
    assert update.state is StepState.RUNNING and update.command == ZERO
    context.current = Pose2D(0.0, 0.0, 0.0, 0.0, 0.0)
    update = executor.tick(T0 + 0.2)
    assert update.state is StepState.SUCCEEDED and update.command == ZERO
    # Without odometry it still ends, after the time a ramped stop takes.
    blind, _ = start(Skill.STOP, context=FakeContext(current=None))
    limits = CONFIG.limits
    settle = limits.max_linear_speed / limits.max_linear_decel
    assert blind.tick(T0 + settle * 0.5).state is StepState.RUNNING
    assert blind.tick(T0 + settle + 1.0).state is StepState.SUCCEEDED


def test_slow_down_caps_the_speed() -> None:
    executor, context = start(Skill.SLOW_DOWN, num('max_speed', 0.15))
    update = executor.tick(T0)
    assert update.state is StepState.SUCCEEDED and update.command is None
    assert context.caps == [0.15]


# ----- notices -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('skill', 'args', 'expected'),
    [
        (
            Skill.REQUEST_OPERATOR,
            (text('message', 'person near the dock, please check'),),
            (NoticeKind.REQUEST_OPERATOR, '', 'person near the dock, please check', ''),
        ),
        (
            Skill.NOTIFY,
            (text('role', 'cleaning'), text('message', 'spill in aisle 4')),
            (NoticeKind.NOTIFY, 'cleaning', 'spill in aisle 4', ''),
        ),
        (
            Skill.CAPTURE_EVIDENCE,
            (text('camera', 'front'),),
            (NoticeKind.CAPTURE_EVIDENCE, '', '', 'front'),
        ),
    ],
)
def test_notice_skills_send_one_notice_of_their_kind(
    skill: Skill, args: tuple[Argument, ...], expected: tuple[NoticeKind, str, str, str]
) -> None:
    executor, context = start(skill, *args)
    update = executor.tick(T0)
    assert update.state is StepState.SUCCEEDED and update.command is None
    assert context.notices == [expected]


# ----- services ----------------------------------------------------------------------------------
SERVICES = GateConfig(
    limits=GateLimits(
        retry_step_service='mission/retry',
        resume_mission_service='mission/resume',
        reset_fault_service='drives/reset',
    ),
    waypoints=CONFIG.waypoints,
)


@pytest.mark.parametrize(
    ('skill', 'args', 'service'),
    [
        (Skill.RETRY_STEP, (), 'mission/retry'),
        (Skill.RESUME_MISSION, (), 'mission/resume'),
        (Skill.RESET_FAULT, (text('device', 'left_motor'),), 'drives/reset/left_motor'),
    ],
)
@pytest.mark.parametrize('success', [True, False])
def test_trigger_skills_call_the_configured_service(
    skill: Skill, args: tuple[Argument, ...], service: str, success: bool
) -> None:
    context = FakeContext(config=SERVICES)
    executor, _ = start(skill, *args, context=context)
    assert context.started == [service]  # called once, when the step starts
    for k in range(5):
        update = executor.tick(T0 + k * DT)
        assert update.state is StepState.RUNNING and update.command is None
    context.results[service] = (success, 'done' if success else 'drive still faulted')
    update = executor.tick(T0 + 1.0)
    assert update.state is (StepState.SUCCEEDED if success else StepState.FAILED)
    assert update.command is None
    assert context.started == [service]


def test_default_service_names() -> None:
    context = FakeContext()
    start(Skill.RETRY_STEP, context=context)
    start(Skill.RESUME_MISSION, context=context)
    start(Skill.RESET_FAULT, text('device', 'lidar_front'), context=context)
    assert context.started == ['retry_step', 'resume_mission', 'reset_fault/lidar_front']


@pytest.mark.parametrize(
    ('avoid', 'radius', 'center', 'half'),
    [
        (pose_arg('avoid', 3.0, 4.0), 0.5, (3.0, 4.0), 0.5),
        (text('avoid', 'dock_1'), None, (2.0, 1.0), 1.0),  # default radius 1 m
        (pose_arg('avoid', -4.0, 0.0), 2.5, (-4.0, 0.0), 2.5),
    ],
)
def test_reroute_adds_a_keep_out_zone_and_asks_for_a_retry(
    avoid: Argument, radius: float | None, center: tuple[float, float], half: float
) -> None:
    args = (avoid,) if radius is None else (avoid, num('radius', radius))
    executor, context = start(Skill.REROUTE, *args, context=FakeContext(config=SERVICES))
    update = executor.tick(T0)
    assert update.state is StepState.RUNNING
    assert len(context.zones) == 1
    polygon = context.zones[0].polygon
    cx, cy = center
    assert point_in_polygon(cx, cy, polygon)
    assert point_in_polygon(cx + half * 0.99, cy - half * 0.99, polygon)
    assert not point_in_polygon(cx + half * 1.01, cy, polygon)
    assert not point_in_polygon(cx, cy - half * 1.01, polygon)
    assert context.started == ['mission/retry']
    executor.tick(T0 + DT)
    assert len(context.zones) == 1 and context.started == ['mission/retry']  # once
    context.results['mission/retry'] = (True, 'retrying')
    assert executor.tick(T0 + 2 * DT).state is StepState.SUCCEEDED


@pytest.mark.parametrize('radius', [None, 0.5, 20.0])
def test_reroute_around_the_robot_itself_fails_and_changes_nothing(radius: float | None) -> None:
    """Fails before the fix: the zone was added around the robot, latching a keep-out stop
    that outlived the plan (and ``or 1.0`` read a radius of 0 as 1 m)."""
    args = (pose_arg('avoid', 0.3, -0.2),) + (() if radius is None else (num('radius', radius),))
    executor, context = start(Skill.REROUTE, *args)
    update = executor.tick(T0)
    assert update.state is StepState.FAILED and update.command == ZERO
    assert 'inside the area to avoid' in update.text, update.text
    assert context.zones == [] and context.started == []


def test_reroute_waits_for_odometry_before_deciding() -> None:
    executor, context = start(Skill.REROUTE, pose_arg('avoid', 3.0, 0.0))
    context.current = None
    assert executor.tick(T0).state is StepState.RUNNING
    assert context.zones == []
    context.current = Pose2D(0.0, 0.0, 0.0)
    assert executor.tick(T0 + DT).state is StepState.RUNNING
    assert len(context.zones) == 1


def test_trigger_step_fails_when_its_service_never_appears() -> None:
    """Waits in the step's own (gate) time, not in wall time: fails after service_timeout."""
    context = FakeContext(unavailable={'retry_step'})
    executor, _ = start(Skill.RETRY_STEP, context=context)
    timeout = context.config.limits.service_timeout
    assert executor.tick(T0 + timeout - DT).state is StepState.RUNNING
    update = executor.tick(T0 + timeout + DT)
    assert update.state is StepState.FAILED and 'not available' in update.text


def test_reroute_around_an_unknown_area_fails_and_changes_nothing() -> None:
    executor, context = start(Skill.REROUTE, text('avoid', 'nowhere'))
    update = executor.tick(T0)
    assert update.state is StepState.FAILED and update.command == ZERO
    assert context.zones == [] and context.started == []


def test_reroute_zone_is_enforced_by_the_gate() -> None:
    """The zone reroute adds stops motion toward it, and ends with the plan."""
    gate = GateCore(CONFIG, T0)
    gate.activate(T0)
    gate.estop(False, T0)
    executor, context = start(Skill.REROUTE, pose_arg('avoid', 1.5, 0.0), num('radius', 0.5))
    executor.tick(T0)
    gate.set_plan_running(True, T0)
    for zone in context.zones:
        gate.add_keep_out_zone(zone)
    here = Pose2D(0.7, 0.0, 0.0)
    for k in range(5):
        now = T0 + k * DT
        gate.heartbeat(now, now)
        gate.odometry(here, now)
        gate.plan_command(Velocity(0.2, 0.0), now)
        out = gate.update(now)
        assert out.command == ZERO
    gate.set_plan_running(False, now)
    gate.command('nav', (0.2, 0.0, 0.0), (0.0, 0.0, 0.0), now + DT)
    gate.heartbeat(now + DT, now + DT)
    assert gate.update(now + DT).command.linear > 0.0


# ----- timeouts ----------------------------------------------------------------------------------
def test_step_timeout_defaults() -> None:
    assert step_timeout(Step(int(Skill.NAVIGATE_TO), (text('target', 'dock_1'),), 12.0)) == 12.0
    assert step_timeout(Step(int(Skill.WAIT), (num('seconds', 30.0),))) == 35.0
    assert step_timeout(Step(int(Skill.WAIT), (num('seconds', 30.0),), 40.0)) == 40.0
    assert step_timeout(Step(int(Skill.STOP))) == DEFAULT_STEP_TIMEOUT == 60.0
    assert step_timeout(Step(int(Skill.REVERSE), (num('distance', 0.5),))) == 60.0
