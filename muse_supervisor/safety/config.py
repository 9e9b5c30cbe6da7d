"""The safety gate's configuration: limits, command sources, zones and waypoints.

Validated as a whole before the gate activates: an invalid configuration refuses to activate with
a message naming the parameter, the value and what was expected. No timeout may be zero: zero is
never read as "never stale".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from muse_supervisor.params import ConfigError, param
from muse_supervisor.params.files import read_params_file, section_applies
from muse_supervisor.params.spec import from_mapping

_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


@dataclass(frozen=True)
class GateLimits:
    """Scalar parameters of the gate (``config/safety_gate.yaml``); all read-only at run time."""

    rate_hz: float = param(
        20.0,
        'Rate of the cmd_vel timer (Hz); zero is published when nothing valid commands motion.',
        minimum=1.0,
        maximum=200.0,
        read_only=True,
    )
    require_heartbeat: bool = param(
        True, 'Stop when the supervisor heartbeat lapses.', read_only=True
    )
    heartbeat_timeout: float = param(
        0.5, 'Seconds without a supervisor heartbeat before the gate stops.', minimum=0.01,
        maximum=10.0, read_only=True,
    )  # fmt: skip
    max_clock_skew: float = param(
        0.5, 'Heartbeat stamps further in the future than this (s) are refused.', minimum=0.0,
        maximum=10.0, read_only=True,
    )  # fmt: skip
    estop_heartbeat_required: bool = param(
        False, 'The e-stop topic must be heard within estop_timeout, or counts as engaged.',
        read_only=True,
    )  # fmt: skip
    estop_required: bool = param(
        True, 'An e-stop input not heard since start counts as engaged (zero until heard). Set '
        'false only on a robot whose e-stop is not reported on ROS at all.', read_only=True,
    )  # fmt: skip
    person_signal_required: bool = param(
        False, 'A person signal is configured (a safety scanner or perception publishes '
        'person_in_zone): not heard since start counts as a person in the zone.',
        read_only=True,
    )  # fmt: skip
    estop_timeout: float = param(
        0.5, 'Seconds without an e-stop message before a required e-stop counts as engaged.',
        minimum=0.01, maximum=10.0, read_only=True,
    )  # fmt: skip
    max_linear_speed: float = param(
        0.5, 'Largest forward/backward speed (m/s); larger commands are refused.', minimum=0.01,
        maximum=5.0, read_only=True,
    )  # fmt: skip
    max_angular_speed: float = param(
        1.0, 'Largest turn rate (rad/s); larger commands are refused.', minimum=0.01,
        maximum=10.0, read_only=True,
    )  # fmt: skip
    max_linear_accel: float = param(
        0.5, 'Largest linear acceleration (m/s^2) when speeding up.', minimum=0.01, maximum=10.0,
        read_only=True,
    )  # fmt: skip
    max_linear_decel: float = param(
        1.0, 'Largest linear deceleration (m/s^2) of normal stops and slow-downs (ramps).',
        minimum=0.01, maximum=20.0, read_only=True,
    )  # fmt: skip
    max_angular_accel: float = param(
        2.0, 'Largest angular acceleration (rad/s^2).', minimum=0.01, maximum=50.0,
        read_only=True,
    )  # fmt: skip
    braking_decel: float = param(
        0.8, 'Deceleration (m/s^2) the braking-distance cap assumes the robot can achieve.',
        minimum=0.01, maximum=20.0, read_only=True,
    )  # fmt: skip
    obstacle_margin: float = param(
        0.3, 'Distance (m) to an obstacle at which the robot must be stopped.', minimum=0.0,
        maximum=5.0, read_only=True,
    )  # fmt: skip
    obstacle_distance_required: bool = param(
        False, 'An obstacle distance source is configured: forward motion is capped to zero until '
        'its first reading. Any source, once heard, caps forward motion to zero when it goes '
        'stale or sends an invalid reading.', read_only=True,
    )  # fmt: skip
    obstacle_timeout: float = param(
        0.5, 'Seconds after which an obstacle distance reading is no longer used.', minimum=0.01,
        maximum=10.0, read_only=True,
    )  # fmt: skip
    odom_timeout: float = param(
        0.5, 'Seconds without odometry before the pose counts as unknown (stops when zones or '
        'a plan need it).', minimum=0.01, maximum=10.0, read_only=True,
    )  # fmt: skip
    clock_timeout: float = param(
        0.5, 'Seconds of steady (wall) time without the gate clock advancing before it counts as '
        'stopped (a stalled /clock under use_sim_time): zero until it moves again.',
        minimum=0.05, maximum=10.0, read_only=True,
    )  # fmt: skip
    approval_timeout: float = param(
        120.0, 'Seconds an operator approval stays usable; approvals are also single-use.',
        minimum=1.0, maximum=3600.0, read_only=True,
    )  # fmt: skip
    max_known_plans: int = param(
        256, 'Plans from recovery_proposals the gate remembers for approval (oldest dropped).',
        minimum=1, maximum=10000, read_only=True,
    )  # fmt: skip
    max_approvals: int = param(
        64, 'Pending approvals the gate keeps (oldest dropped).', minimum=1, maximum=10000,
        read_only=True,
    )  # fmt: skip
    service_timeout: float = param(
        5.0, 'Seconds a trigger step (retry_step, reset_fault, resume_mission) waits for its '
        'service to appear before the step fails.', minimum=0.1, maximum=60.0, read_only=True,
    )  # fmt: skip
    plan_step_timeout: float = param(
        0.5, 'Seconds without a fresh command from the running plan step before it is stale.',
        minimum=0.01, maximum=10.0, read_only=True,
    )  # fmt: skip
    plan_priority: int = param(
        50, 'Priority of plan motion among the command sources (higher wins).', minimum=0,
        maximum=1000, read_only=True,
    )  # fmt: skip
    max_reverse_distance: float = param(
        1.0, 'Longest reverse a plan may ask for (m).', minimum=0.0, maximum=2.0,
        read_only=True,
    )  # fmt: skip
    max_wait: float = param(
        300.0, 'Longest wait a plan may ask for (s).', minimum=0.0, maximum=600.0,
        read_only=True,
    )  # fmt: skip
    allow_tier_b: bool = param(
        True, 'Policy: tier B skills (reversible motion) run without approval when no safety '
        'invariant is active.', read_only=True,
    )  # fmt: skip
    graph_guard_rate: float = param(
        2.0, 'Rate (Hz) of the check that the gate is the only publisher on actuator topics.',
        minimum=1.0, maximum=50.0, read_only=True,
    )  # fmt: skip
    goal_tolerance: float = param(
        0.1, 'Distance (m) at which navigate_to counts as arrived.', minimum=0.01, maximum=2.0,
        read_only=True,
    )  # fmt: skip
    navigation_backend: str = param(
        'auto', 'How navigate_to drives: nav2 (a NavigateToPose goal; the Nav2 controller output '
        'comes back through nav2_source), builtin (the built-in turn-then-drive controller), '
        'or auto (nav2 when nav2_msgs imports and the action server answers within '
        'nav2_server_timeout, else builtin).', choices=('auto', 'nav2', 'builtin'),
        read_only=True,
    )  # fmt: skip
    nav2_action: str = param(
        'navigate_to_pose', 'NavigateToPose action server that navigate_to sends goals to.',
        read_only=True,
    )  # fmt: skip
    nav2_source: str = param(
        'nav', 'Command source carrying the Nav2 controller output, forwarded as plan motion '
        'while a navigate_to step drives through Nav2.', read_only=True,
    )  # fmt: skip
    nav2_frame: str = param(
        'odom', 'Frame of waypoint goals sent to Nav2: the frame the waypoints and the gate odom '
        'input share. A pose argument of a plan keeps its own frame.', read_only=True,
    )  # fmt: skip
    nav2_server_timeout: float = param(
        1.0, 'Seconds a navigate_to step waits for the Nav2 action server to answer.',
        minimum=0.0, maximum=30.0, read_only=True,
    )  # fmt: skip
    resume_mission_service: str = param(
        'resume_mission', 'std_srvs/Trigger service that resume_mission calls.', read_only=True
    )
    retry_step_service: str = param(
        'retry_step', 'std_srvs/Trigger service that retry_step calls.', read_only=True
    )
    reset_fault_service: str = param(
        'reset_fault', 'std_srvs/Trigger service prefix that reset_fault calls, as '
        '<prefix>/<device>.', read_only=True,
    )  # fmt: skip


@dataclass(frozen=True)
class CommandSource:
    """A prioritised velocity input, twist_mux-style: the highest fresh priority wins."""

    name: str
    topic: str
    priority: int
    timeout: float


@dataclass(frozen=True)
class KeepOutZone:
    """A polygon (x, y vertices in the odometry frame) the robot must not enter."""

    name: str
    polygon: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Waypoint:
    """A named pose (x, y, yaw) that navigate_to and dock accept as targets."""

    name: str
    x: float
    y: float
    yaw: float


@dataclass(frozen=True)
class GateConfig:
    """Everything the gate needs, validated."""

    limits: GateLimits = field(default_factory=GateLimits)
    sources: tuple[CommandSource, ...] = (
        CommandSource('nav', 'cmd_vel_nav', 10, 0.5),
        CommandSource('teleop', 'cmd_vel_teleop', 100, 0.5),
    )
    keep_out_zones: tuple[KeepOutZone, ...] = ()
    waypoints: tuple[Waypoint, ...] = ()
    actuator_topics: tuple[str, ...] = ('cmd_vel',)

    @property
    def period(self) -> float:
        """Seconds between two cmd_vel messages from the timer."""
        return 1.0 / self.limits.rate_hz

    def waypoint(self, name: str) -> Waypoint | None:
        """The waypoint called ``name``, if configured."""
        return next((w for w in self.waypoints if w.name == name), None)


def gate_config_from_parameters(values: Mapping[str, Any]) -> GateConfig:
    """Build the configuration from flat ROS-style parameters, or raise :class:`ConfigError`.

    Scalars are the fields of :class:`GateLimits`. Structured parts use nested names, as
    twist_mux and Nav2 do: ``command_sources: [nav, teleop]`` then
    ``command_sources.nav.{topic,priority,timeout}``; ``keep_out_zones: [aisle_4]`` then
    ``keep_out_zones.aisle_4.polygon: [x1, y1, x2, y2, ...]``; ``waypoints: [dock_1]`` then
    ``waypoints.dock_1.pose: [x, y, yaw]``; ``actuator_topics: [cmd_vel]``.
    """
    values = dict(values)
    structured = {'command_sources', 'keep_out_zones', 'waypoints', 'actuator_topics'}
    scalar = {k: v for k, v in values.items() if '.' not in k and k not in structured}
    limits = from_mapping(GateLimits, scalar)
    used = set(scalar) | structured
    sources = []
    for name in _names(values, 'command_sources', ['nav', 'teleop']):
        prefix = f'command_sources.{name}'
        topic = _get(values, f'{prefix}.topic', str, used)
        priority = _get(values, f'{prefix}.priority', int, used)
        timeout = _get(values, f'{prefix}.timeout', float, used)
        _check_topic(f'{prefix}.topic', topic)
        if not 0 <= priority <= 1000:
            raise ConfigError(f'parameter {prefix}.priority: got {priority}, expected 0..1000')
        _check_timeout(f'{prefix}.timeout', timeout)
        sources.append(CommandSource(name, topic, priority, timeout))
    if not sources:
        raise ConfigError('command_sources is empty: expected at least one velocity source')
    priorities = [s.priority for s in sources] + [limits.plan_priority]
    if len(set(priorities)) != len(priorities):
        raise ConfigError(
            f'command source priorities {priorities} (plan_priority last) must all differ, so '
            'that exactly one source wins'
        )
    topics = [s.topic for s in sources]
    if len(set(topics)) != len(topics):
        raise ConfigError(f'command source topics {topics} must all differ')
    names = [s.name for s in sources]
    if limits.navigation_backend != 'builtin' and limits.nav2_source not in names:
        raise ConfigError(
            f'parameter nav2_source: got {limits.nav2_source!r}, expected one of the command '
            f'sources {names} (or navigation_backend: builtin)'
        )
    zones = []
    for name in _names(values, 'keep_out_zones', []):
        key = f'keep_out_zones.{name}.polygon'
        flat = _get(values, key, list, used)
        if len(flat) < 6 or len(flat) % 2 or not all(_finite_number(v) for v in flat):
            raise ConfigError(
                f'parameter {key}: got {flat}, expected at least 3 finite x, y pairs '
                '[x1, y1, x2, y2, x3, y3, ...]'
            )
        points = tuple((float(flat[i]), float(flat[i + 1])) for i in range(0, len(flat), 2))
        zones.append(KeepOutZone(name, points))
    waypoints = []
    for name in _names(values, 'waypoints', []):
        key = f'waypoints.{name}.pose'
        pose = _get(values, key, list, used)
        if len(pose) != 3 or not all(_finite_number(v) for v in pose):
            raise ConfigError(f'parameter {key}: got {pose}, expected [x, y, yaw], finite')
        waypoints.append(Waypoint(name, float(pose[0]), float(pose[1]), float(pose[2])))
    actuators = tuple(values.get('actuator_topics', ['cmd_vel']))
    if not actuators:
        raise ConfigError('actuator_topics is empty: expected at least cmd_vel')
    for topic in actuators:
        _check_topic('actuator_topics', topic)
    if set(actuators) & set(topics):
        raise ConfigError(f'actuator topics {list(actuators)} cannot also be command sources')
    unknown = sorted(set(values) - used)
    if unknown:
        raise ConfigError(f'unknown safety gate parameter(s) {unknown}')
    return GateConfig(limits, tuple(sources), tuple(zones), tuple(waypoints), actuators)


def _names(values: dict[str, Any], key: str, default: list[str]) -> list[str]:
    names = list(values.get(key, default))
    for name in names:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(
                f'parameter {key}: entry {name!r} is not a valid name (letters, digits, '
                'underscores, starting with a letter)'
            )
    if len(set(names)) != len(names):
        raise ConfigError(f'parameter {key}: names {names} must be unique')
    return names


def _get(values: dict[str, Any], key: str, kind: type, used: set[str]) -> Any:
    if key not in values:
        raise ConfigError(f'parameter {key} is missing; expected a {kind.__name__}')
    value = values[key]
    used.add(key)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ConfigError(f'parameter {key}: got {value!r}, expected a {kind.__name__}')
    return value


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_timeout(key: str, value: float) -> None:
    if not math.isfinite(value) or not 0.0 < value <= 10.0:
        raise ConfigError(
            f'parameter {key}: got {value}, expected a timeout in (0, 10] s; 0 would mean '
            '"never stale", which the gate refuses'
        )


def _check_topic(key: str, topic: str) -> None:
    if not re.match(r'^~?/?[A-Za-z][A-Za-z0-9_]*(/[A-Za-z][A-Za-z0-9_]*)*$', topic):
        raise ConfigError(f'parameter {key}: {topic!r} is not a valid ROS topic name')


def gate_config_from_file(path: str, node_fqn: str = '/safety_gate') -> GateConfig:
    """The configuration a gate called ``node_fqn`` would run with, read from its parameter file.

    The plan simulator predicts with the gate's own limits: it reads the same file the gate is
    started with, the sections ROS would apply to that gate, later ones winning.
    """
    params = read_params_file(path)
    values: dict[str, Any] = {}
    for section, entries in params.sections.items():
        if section_applies(section, node_fqn):
            values.update(entries)
    if not values:
        raise ConfigError(
            f'parameter file {path}: no section applies to {node_fqn} (sections: '
            f'{sorted(params.sections)})'
        )
    values.pop('autostart', None)
    values.pop('use_sim_time', None)
    return gate_config_from_parameters(values)
