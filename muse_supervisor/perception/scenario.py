"""Offline scenarios through the same perception code the node runs.

A scenario file is one moment of one robot (the format of the reasoner's offline set):

.. code-block:: yaml

    name: blocked-aisle
    robot: {pose: {x: 4.0, y: 2.5, yaw: 0.0}, speed: 0.3, battery: 0.64}
    mission: {id: M-117, step: "deliver tote T-88 to station B", status: stalled,
              expected_item: T-88, step_elapsed_s: 95}
    alarms: [{code: NAV_NO_PROGRESS, severity: error, source: nav, text: "no progress for 30 s"}]
    images: [front.png]          # relative to the file, oldest first
    estop: false
    person_in_zone: false
    logs: ["[nav] controller: path blocked at (5.1, 2.5)"]
    expected: {kind: path_blocked, first_step_in: [stop, wait], forbidden: [resume_mission]}

Every field but ``name`` may be absent; severities are ``info``, ``warn``, ``error``, ``fatal``.

:func:`perceive` feeds it to a :class:`~muse_supervisor.perception.core.PerceptionCore` through
the same ``on_*`` methods the node calls, and the images through the same analyzers. A moment
is a steady state: the inputs are repeated once a second for ``hold`` seconds (the images in
turn), so that the rules' debounce sees a condition that persists, as it would on the robot.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml  # type: ignore[import-untyped]

from muse_supervisor.domain.incidents import IncidentSnapshot, MissionStatus
from muse_supervisor.domain.vocabulary import Severity
from muse_supervisor.params import ConfigError
from muse_supervisor.perception.alarms import Alarm, LogLine
from muse_supervisor.perception.context import ContextBundle
from muse_supervisor.perception.core import PerceptionCore
from muse_supervisor.perception.signals import POWER_SUPPLY_DISCHARGING, MissionSnapshot
from muse_supervisor.perception.vision.analyzer import Analyzer
from muse_supervisor.perception.vision.frames import Frame

SEVERITIES = {'info': Severity.INFO, 'warn': Severity.WARNING, 'error': Severity.ERROR,
              'fatal': Severity.CRITICAL}  # fmt: skip
# "stalled" is a running mission that makes no progress: the step's elapsed time says so.
MISSION_STATUSES = {'idle': MissionStatus.IDLE, 'running': MissionStatus.RUNNING,
                    'stalled': MissionStatus.RUNNING, 'paused': MissionStatus.PAUSED,
                    'succeeded': MissionStatus.SUCCEEDED, 'failed': MissionStatus.FAILED,
                    'aborted': MissionStatus.ABORTED}  # fmt: skip
_KEYS = ('name', 'robot', 'mission', 'alarms', 'images', 'estop', 'person_in_zone', 'logs',
         'expected')  # fmt: skip
_LOG = re.compile(r'^\[(?P<name>[^\]]+)\]\s*(?P<msg>.*)$')
_WARN = 30  # rcl_interfaces/Log level of a line whose level the file does not give
T0 = 1000.0  # the scenario clock's origin (s)


class ScenarioError(ConfigError):
    """A scenario file that does not read as the format; the message says where and why."""


@dataclass(frozen=True)
class Scenario:
    """One moment of one robot, as read from a scenario file."""

    name: str
    path: Path | None = None
    pose: tuple[float, float, float] | None = None
    speed: float = 0.0
    battery: float | None = None  # state of charge in [0, 1]
    mission: MissionSnapshot | None = None
    alarms: tuple[Alarm, ...] = ()
    images: tuple[Path, ...] = ()
    estop: bool | None = None
    person_in_zone: bool | None = None
    logs: tuple[str, ...] = ()
    expected: Mapping[str, Any] = field(default_factory=dict)


def load_scenario(path: str | Path) -> Scenario:
    """Read and check a scenario file (images are checked to exist, not yet read)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise ScenarioError(f'{path}: cannot read the scenario ({error.strerror})') from error
    except yaml.YAMLError as error:
        raise ScenarioError(f'{path}: not valid YAML ({error})') from error
    return scenario_from_dict(data, path)


def scenario_from_dict(data: Any, path: Path) -> Scenario:
    """Check a parsed scenario; relative image paths are taken from ``path``'s folder."""
    if not isinstance(data, Mapping) or not isinstance(data.get('name'), str):
        raise ScenarioError(f'{path}: expected a mapping with a "name" string')
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ScenarioError(f'{path}: unknown key(s) {unknown}; expected {list(_KEYS)}')
    robot = _mapping(data, 'robot', path)
    pose = _mapping(robot, 'pose', path)
    images = tuple(path.parent / str(image) for image in _list(data, 'images', path))
    missing = [str(image) for image in images if not image.is_file()]
    if missing:
        raise ScenarioError(f'{path}: key images: no such file(s) {missing}')
    battery = robot.get('battery')
    if battery is not None and not (_is_number(battery) and 0.0 <= battery <= 1.0):
        raise ScenarioError(f'{path}: key robot.battery: got {battery!r}, expected 0..1')
    return Scenario(
        name=data['name'],
        path=path,
        pose=(_number(pose, 'x', path), _number(pose, 'y', path), _number(pose, 'yaw', path))
        if pose else None,
        speed=_number(robot, 'speed', path),
        battery=None if battery is None else float(battery),
        mission=_mission(_mapping(data, 'mission', path), path),
        alarms=tuple(_alarm(a, i, path) for i, a in enumerate(_list(data, 'alarms', path))),
        images=images,
        estop=_flag(data, 'estop', path),
        person_in_zone=_flag(data, 'person_in_zone', path),
        logs=tuple(str(line) for line in _list(data, 'logs', path)),
        expected=_mapping(data, 'expected', path),
    )  # fmt: skip


def perceive(
    scenario: Scenario,
    core: PerceptionCore,
    analyzers: Sequence[Analyzer] = (),
    hold: float = 10.0,
) -> tuple[list[IncidentSnapshot], dict[str, ContextBundle]]:
    """Feed the scenario to ``core`` for ``hold`` seconds; the open incidents and their context.

    ``analyzers`` see each image (oldest first, in turn, one a second); without any, images
    are not looked at.
    """
    import cv2

    frames = []
    for index, image_path in enumerate(scenario.images):
        pixels = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if pixels is None:
            raise ScenarioError(f'{scenario.path}: {image_path} is not an image OpenCV reads')
        frames.append((index, np.asarray(pixels, dtype=np.uint8), str(image_path.name)))
    seconds = max(1, math.ceil(hold))
    for tick in range(seconds + 1):
        now = T0 + tick
        _feed_moment(scenario, core, now)
        if frames and analyzers:
            index, pixels, name = frames[tick % len(frames)]
            frame = Frame(pixels, now, frame_id='camera', topic=f'scenario/{name}', sequence=tick)
            for analyzer in analyzers:
                for observation in analyzer.analyze(frame):
                    core.on_observation(observation, now)
        core.tick(now)
    end = T0 + seconds
    incidents = core.tracker.incidents(end)
    return incidents, {incident.id: core.context(incident.id, end) for incident in incidents}


def _feed_moment(scenario: Scenario, core: PerceptionCore, now: float) -> None:
    """Every input of the scenario once, stamped ``now`` (the first time: the alarms too)."""
    core.on_odom(now, now)
    if scenario.battery is not None:
        core.on_battery(scenario.battery, POWER_SUPPLY_DISCHARGING, now, now)
    if scenario.estop is not None:
        core.on_estop(scenario.estop, now, now)
    if scenario.person_in_zone is not None:
        core.on_person(scenario.person_in_zone, now, now)
    if scenario.mission is not None:
        core.on_mission(_at(scenario.mission, now), now)
    if now == T0:  # alarms and log lines happened once; they stand until cleared
        for alarm in scenario.alarms:
            core.on_alarm(Alarm(alarm.source, alarm.code, alarm.severity, alarm.active,
                                alarm.text, alarm.values, now), now)  # fmt: skip
        for line in scenario.logs:
            match = _LOG.match(line)
            name = match['name'].replace('/', '.') if match else 'scenario'
            core.on_log(LogLine(_WARN, name, match['msg'] if match else line, now), now)


def _at(mission: MissionSnapshot, now: float) -> MissionSnapshot:
    from dataclasses import replace

    return replace(mission, stamp=now, step_elapsed=mission.step_elapsed + (now - T0))


def _mission(spec: Mapping[str, Any], path: Path) -> MissionSnapshot | None:
    if not spec:
        return None
    unknown = sorted(set(spec) - {'id', 'step', 'status', 'expected_item', 'step_elapsed_s',
                                  'step_budget_s', 'step_index', 'step_count'})  # fmt: skip
    if unknown:
        raise ScenarioError(f'{path}: key mission: unknown key(s) {unknown}')
    status = spec.get('status', 'running')
    if status not in MISSION_STATUSES:
        raise ScenarioError(
            f'{path}: key mission.status: got {status!r}, expected one of {list(MISSION_STATUSES)}'
        )
    return MissionSnapshot(
        mission_id=str(spec.get('id', '')), status=MISSION_STATUSES[status],
        step_index=int(spec.get('step_index', 0)), step_count=int(spec.get('step_count', 0)),
        step_description=str(spec.get('step', '')),
        step_elapsed=_number(spec, 'step_elapsed_s', path),
        step_budget=_number(spec, 'step_budget_s', path),
        expected_payload=str(spec.get('expected_item', '')), stamp=T0,
    )  # fmt: skip


def _alarm(spec: Any, index: int, path: Path) -> Alarm:
    where = f'{path}: alarms[{index}]'
    if not isinstance(spec, Mapping) or not spec.get('code'):
        raise ScenarioError(f'{where}: expected a mapping with at least a code')
    severity = spec.get('severity', 'warn')
    if severity not in SEVERITIES:
        raise ScenarioError(f'{where}: severity {severity!r} is not one of {list(SEVERITIES)}')
    values = spec.get('values', {})
    if not isinstance(values, Mapping):
        raise ScenarioError(f'{where}: values must be a mapping of names to values')
    return Alarm(
        source=str(spec.get('source', '')), code=str(spec['code']),
        severity=SEVERITIES[severity], active=bool(spec.get('active', True)),
        text=str(spec.get('text', '')), values=tuple((str(k), str(v)) for k, v in values.items()),
        stamp=T0,
    )  # fmt: skip


def _mapping(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ScenarioError(f'{path}: key {key}: expected a mapping, got {value!r}')
    return value


def _list(data: Mapping[str, Any], key: str, path: Path) -> list[Any]:
    value = data.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise ScenarioError(f'{path}: key {key}: expected a list, got {value!r}')
    return value


def _flag(data: Mapping[str, Any], key: str, path: Path) -> bool | None:
    value = data.get(key)
    if value is not None and not isinstance(value, bool):
        raise ScenarioError(f'{path}: key {key}: expected true or false, got {value!r}')
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _number(data: Mapping[str, Any], key: str, path: Path) -> float:
    value = data.get(key, 0.0)
    if not _is_number(value):
        raise ScenarioError(f'{path}: key {key}: expected a number, got {value!r}')
    return float(value)
