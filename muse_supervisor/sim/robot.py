"""The simulated robot of ``sim_world_node``: a base that follows ``cmd_vel`` in the world model.

It stands in for the hardware and the robot's own software that the supervisor watches: the base
(with the acceleration limits and command timeout of a real base driver), its range sensor, its
battery, an e-stop, the mission executive and the device diagnostics, all driven by a scripted
:mod:`~muse_supervisor.sim.timeline`. Motion, sensing and contact use
:mod:`~muse_supervisor.sim.physics`, the same equations as the plan simulator's rollouts, so a
plan's prediction can be checked against its execution on this robot.

Time is injected: :meth:`SimulatedRobot.step` is called with the simulation time, which the
node also publishes as ``/clock``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.sim.physics import (
    Circle,
    RobotModel,
    contact,
    distance_ahead,
    drive,
    in_protective_zone,
    range_reading,
)
from muse_supervisor.sim.timeline import LEVELS, MISSION_STATUSES, SEVERITIES, Event, Timeline
from muse_supervisor.sim.world import World


@dataclass(frozen=True)
class BaseDynamics:
    """What the base's own motor controller does with a velocity command."""

    max_linear_accel: float = 1.5  # m/s^2
    max_angular_accel: float = 4.0  # rad/s^2
    # A base driver stops when commands stop coming (e.g. a ros2_control diff-drive controller's
    # cmd_vel_timeout); the gate publishes at 20 Hz, so 0.5 s is ten missed commands.
    command_timeout: float = 0.5  # s
    charge_rate: float = 0.0005  # state of charge per second while charging (full in 33 min)
    charger_reach: float = 0.35  # m from a charger's pose within which the robot charges


@dataclass(frozen=True)
class Label:
    """A QR code on a tote, a rack or a dock: ``payload`` is what it encodes."""

    name: str
    x: float
    y: float
    yaw: float  # direction the printed face looks toward
    payload: str
    size: float = 0.3  # m, side of the printed code


@dataclass(frozen=True)
class Panel:
    """A sign or a device screen showing ``text``."""

    name: str
    x: float
    y: float
    yaw: float  # direction the face looks toward
    text: str
    width: float = 1.0  # m
    height: float = 0.6  # m


@dataclass(frozen=True)
class Scene:
    """What is in the world besides the map at one moment (for physics and the camera)."""

    obstacles: tuple[Circle, ...] = ()
    people: tuple[Circle, ...] = ()
    spills: tuple[Circle, ...] = ()
    labels: tuple[Label, ...] = ()
    panels: tuple[Panel, ...] = ()


@dataclass(frozen=True)
class AlarmEvent:
    """An alarm raised or cleared by a simulated device (the fields of ``Alarm``)."""

    stamp: float
    source: str
    code: str
    severity: int  # Alarm.SEVERITY_*
    active: bool
    text: str
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class DiagnosticReport:
    """One ``diagnostic_msgs/DiagnosticStatus``."""

    name: str
    level: int  # OK 0, WARN 1, ERROR 2, STALE 3
    message: str
    hardware_id: str = ''
    values: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class BatteryReading:
    """The fields of ``sensor_msgs/BatteryState`` the simulated pack fills."""

    percentage: float  # [0, 1]
    voltage: float  # V
    current: float  # A, negative while discharging (as BatteryState defines it)
    charging: bool


@dataclass
class Mission:
    """Where the mission executive stands (the fields of ``MissionState``)."""

    mission_id: str = ''
    status: int = 0  # MissionState.STATUS_*
    step_index: int = 0
    step_count: int = 0
    step_id: str = ''
    step_description: str = ''
    step_budget: float = 0.0
    step_started: float = 0.0
    expected_payload: str = ''


@dataclass
class _Things:
    circles: dict[str, dict[str, Circle]] = field(
        default_factory=lambda: {'obstacle': {}, 'person': {}, 'spill': {}}
    )
    labels: dict[str, Label] = field(default_factory=dict)
    panels: dict[str, Panel] = field(default_factory=dict)


class SimulatedRobot:
    """The robot and its world, stepped in simulation time."""

    NOMINAL_VOLTAGE = (22.0, 29.4)  # V at empty and full: a 7-cell lithium-ion pack

    def __init__(
        self,
        world: World,
        start: Pose2D,
        timeline: Timeline | None = None,
        robot: RobotModel | None = None,
        base: BaseDynamics | None = None,
        battery: float = 0.9,
        now: float = 0.0,
        hold_timeline: bool = False,
    ) -> None:
        """``hold_timeline``: nothing of the timeline happens until :meth:`start_timeline`."""
        self.world, self.timeline = world, timeline or Timeline()
        self.robot, self.base = robot or RobotModel(), base or BaseDynamics()
        self.pose = replace(start, linear=0.0, angular=0.0)
        self.battery = battery
        self.estop_engaged = False
        self.camera_covered = False  # a hand, a bag or dirt on the lens (timeline)
        self.mission = Mission()
        self.collision = ''
        self.distance_driven = 0.0
        self.started = self.now = now
        self._command = (0.0, 0.0)
        self._command_at = -math.inf
        self._things = _Things()
        self._diagnostics: dict[str, DiagnosticReport] = {}
        self._alarms: list[AlarmEvent] = []
        self._active_alarms: dict[tuple[str, str], AlarmEvent] = {}
        self._power = 0.0
        self._charging = False
        self._applied_until = -math.inf
        if hold_timeline:
            self.started = math.inf
        self._apply_due(now)

    # ----- inputs ----------------------------------------------------------------------------
    def command(self, linear: float, angular: float, now: float) -> None:
        """A ``cmd_vel`` arrived (non-finite values are ignored, as a base driver must)."""
        if math.isfinite(linear) and math.isfinite(angular):
            self._command, self._command_at = (linear, angular), now

    def step(self, now: float) -> None:
        """Advance to ``now``: timeline events, then the base, its battery and its contacts."""
        dt = now - self.now
        if dt <= 0:
            return
        self._apply_due(now)
        target = self._command if now - self._command_at <= self.base.command_timeout else (0, 0)
        if self.estop_engaged or self.battery <= 0.0:
            target = (0.0, 0.0)  # the e-stop cuts the drives; a flat pack stops them
        elif self.collision:
            target = (min(0.0, target[0]), 0.0)  # after a bump, only backing away
        linear = _toward(self.pose.linear, target[0], self.base.max_linear_accel * dt)
        angular = _toward(self.pose.angular, target[1], self.base.max_angular_accel * dt)
        if self.estop_engaged or (self.collision and linear > 0.0):
            linear = angular = 0.0
        moved = drive(self.pose, linear, angular, dt)
        touched = contact(self.world.map, self.robot, self.scene().obstacles, moved)
        if touched and not (self.collision and linear < 0.0):
            self.collision = touched
            moved = replace(self.pose, linear=0.0, angular=0.0)
        elif self.collision and linear < 0.0 and not touched:
            self.collision = ''  # backed off: the bumper is free again
        self.distance_driven += math.dist((self.pose.x, self.pose.y), (moved.x, moved.y))
        self.pose = moved
        self._power = self.robot.power_w(linear, angular)
        self._charging = self._at_charger() and linear == angular == 0.0
        drawn = self._power * dt / 3600.0 / self.robot.battery_wh
        gained = self.base.charge_rate * dt if self._charging else 0.0
        self.battery = min(1.0, max(0.0, self.battery - drawn + gained))
        self.now = now

    def trigger(self, service: str) -> tuple[bool, str]:
        """Answer a mission service the gate calls (``std_srvs/Trigger``)."""
        mission = self.mission
        if service == 'resume_mission':
            if mission.status != MISSION_STATUSES.index('paused'):
                return False, f'mission is {MISSION_STATUSES[mission.status]}, not paused'
            mission.status = MISSION_STATUSES.index('running')
            return True, f'mission {mission.mission_id or "(unnamed)"} resumed'
        if service == 'retry_step':
            mission.status = MISSION_STATUSES.index('running')
            mission.step_started = self.now
            return True, f'step {mission.step_id or mission.step_index} restarted'
        if service.startswith('reset_fault/'):
            device = service.split('/', 1)[1]
            cleared = [key for key in self._active_alarms if key[0] == device]
            for key in cleared:
                raised = self._active_alarms.pop(key)
                self._alarms.append(replace(raised, stamp=self.now, active=False))
            report = self._diagnostics.get(device)
            if report is not None and report.level != 0:
                self._diagnostics[device] = replace(report, level=0, message='reset')
            if not cleared and report is None:
                return False, f'no device {device!r} has a fault to reset'
            return True, f'{device}: fault reset'
        return False, f'unknown service {service}'

    # ----- what the robot reports -----------------------------------------------------------
    def scene(self) -> Scene:
        """The timeline's things as they stand now."""
        things = self._things
        return Scene(
            obstacles=tuple(things.circles['obstacle'].values()),
            people=tuple(things.circles['person'].values()),
            spills=tuple(things.circles['spill'].values()),
            labels=tuple(things.labels.values()),
            panels=tuple(things.panels.values()),
        )

    def range_ahead(self) -> float:
        """The forward range sensor's reading (REP 117: ``+inf`` when nothing is in range)."""
        distance = distance_ahead(self.world.map, self.robot, self.scene().obstacles, self.pose)
        return range_reading(self.robot, distance)

    def person_in_zone(self) -> bool:
        """What a safety scanner's protective field would say."""
        return in_protective_zone(self.robot, self.scene().people, self.pose)

    def battery_reading(self) -> BatteryReading:
        """The pack's state: voltage from the state of charge, current from the power drawn."""
        low, high = self.NOMINAL_VOLTAGE
        voltage = low + (high - low) * self.battery
        charging_w = self.base.charge_rate * self.robot.battery_wh * 3600.0  # Wh/s to W
        current = charging_w / voltage if self._charging else -self._power / voltage
        return BatteryReading(self.battery, voltage, current, self._charging)

    def diagnostics(self) -> list[DiagnosticReport]:
        """The base's own statuses (battery, drives, range sensor), then the timeline's."""
        percent = self.battery * 100.0
        level = 2 if percent < 10 else 1 if percent < 20 else 0
        words = ('OK', 'Low battery', 'Battery critically low')[level]
        battery = DiagnosticReport(
            'battery', level, words, 'sim_battery',
            (('percentage', f'{percent:.1f}'),
             ('voltage', f'{self.battery_reading().voltage:.2f}')),
        )  # fmt: skip
        drives = DiagnosticReport(
            'motor drivers',
            2 if self.collision else 0,
            f'bumper pressed: {self.collision}' if self.collision else 'OK',
            'sim_base',
        )
        reports = {battery.name: battery, drives.name: drives, **self._diagnostics}
        if self.collision:  # a bump outranks whatever the timeline last said of the drives
            reports[drives.name] = drives
        return list(reports.values())

    def take_alarms(self) -> list[AlarmEvent]:
        """Alarms raised or cleared since the last call, oldest first."""
        alarms, self._alarms = self._alarms, []
        return alarms

    # ----- the timeline ----------------------------------------------------------------------
    def start_timeline(self, now: float) -> bool:
        """Start a held timeline now (its times count from here); false if it already runs."""
        if math.isfinite(self.started):
            return False
        self.started = now
        self._applied_until = now - 1e-9  # events at 0 s happen on the next step
        return True

    def _apply_due(self, now: float) -> None:
        for event in self.timeline.events:
            at = self.started + event.at
            if self._applied_until < at <= now:
                self._apply(event, at)
        self._applied_until = now

    def _apply(self, event: Event, at: float) -> None:
        spec: Any = event.spec
        things = self._things
        if event.action in things.circles:
            self._remove(spec['name'])
            circle = Circle(spec['name'], spec['x'], spec['y'], spec['radius'])
            things.circles[event.action][circle.name] = circle
        elif event.action == 'label':
            self._remove(spec['name'])
            things.labels[spec['name']] = Label(**spec)
        elif event.action == 'panel':
            self._remove(spec['name'])
            things.panels[spec['name']] = Panel(**spec)
        elif event.action == 'remove':
            self._remove(spec)
        elif event.action == 'battery':
            self.battery = spec['percentage']
        elif event.action == 'estop':
            self.estop_engaged = spec
        elif event.action == 'camera_covered':
            self.camera_covered = spec
        elif event.action == 'alarm':
            alarm = AlarmEvent(
                at, spec['source'], spec['code'], SEVERITIES.index(spec['severity']),
                spec.get('active', True), spec['text'],
                tuple(spec.get('values', {}).items()),
            )  # fmt: skip
            key = (alarm.source, alarm.code)
            if alarm.active:
                self._active_alarms[key] = alarm
            else:
                self._active_alarms.pop(key, None)
            self._alarms.append(alarm)
        elif event.action == 'diagnostic':
            self._diagnostics[spec['name']] = DiagnosticReport(
                spec['name'], LEVELS.index(spec['level']), spec['message'],
                spec.get('hardware_id', ''), tuple(spec.get('values', {}).items()),
            )  # fmt: skip
        elif event.action == 'mission':
            self._update_mission(spec, at)

    def _update_mission(self, spec: dict[str, Any], at: float) -> None:
        mission = self.mission
        for key, value in spec.items():
            setattr(mission, key, MISSION_STATUSES.index(value) if key == 'status' else value)
        if 'step_index' in spec or 'step_id' in spec:
            mission.step_started = at

    def _remove(self, name: str) -> None:
        things = self._things
        for circles in things.circles.values():
            circles.pop(name, None)
        things.labels.pop(name, None)
        things.panels.pop(name, None)

    def _at_charger(self) -> bool:
        return any(
            place.kind == 'charger'
            and math.dist((place.x, place.y), (self.pose.x, self.pose.y))
            <= self.base.charger_reach
            for place in self.world.places
        )


def _toward(value: float, target: float, step: float) -> float:
    """``value`` moved toward ``target`` by at most ``step``."""
    return target if abs(target - value) <= step else value + math.copysign(step, target - value)
