"""A scripted scenario for the simulated robot: what happens in its world, and when.

A timeline file is YAML, a list of events, each at a time (seconds since the simulation started)
with exactly one action::

    events:
      - at: 0
        panel: {name: drive_panel, x: 1.5, y: 4.7, yaw: -1.57, text: "MOTOR 2 OVERCURRENT"}
      - at: 12
        obstacle: {name: fallen_pallet, x: 4.0, y: 1.0, radius: 0.4}
      - at: 40
        battery: {percentage: 0.12}

Actions (positions in the map frame, metres, radians):

- ``obstacle``, ``person``, ``spill``: a circle ``{name, x, y, radius}`` (a person's radius is
  their protective zone); ``label``: a QR code ``{name, x, y, yaw, payload[, size]}``;
  ``panel``: a sign or screen ``{name, x, y, yaw, text[, width, height]}``. Placing a name again
  moves it; ``remove: NAME`` takes it away.
- ``battery``: ``{percentage}`` in [0, 1] sets the state of charge.
- ``estop``: ``true`` (pressed) or ``false`` (released).
- ``camera_covered``: ``true`` (something covers the lens: the frames are near black) or ``false``.
- ``alarm``: ``{source, code, severity: info|warning|error|critical, text[, active, values]}``.
- ``diagnostic``: ``{name, level: ok|warn|error|stale, message[, hardware_id, values]}``; the
  status stays as set until set again.
- ``mission``: any of ``{mission_id, status: idle|running|paused|succeeded|failed|aborted,
  step_index, step_count, step_id, step_description, step_budget, expected_payload}``.

A file that does not read as this is refused with the event, the key and what was expected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

SEVERITIES = ('info', 'warning', 'error', 'critical')  # = Alarm.SEVERITY_* order
LEVELS = ('ok', 'warn', 'error', 'stale')  # = diagnostic_msgs/DiagnosticStatus levels 0..3
MISSION_STATUSES = ('idle', 'running', 'paused', 'succeeded', 'failed', 'aborted')
_THINGS = ('obstacle', 'person', 'spill', 'label', 'panel')
ACTIONS = (
    *_THINGS, 'remove', 'battery', 'estop', 'camera_covered', 'alarm', 'diagnostic', 'mission',
)  # fmt: skip
_MISSION_FIELDS = {
    'mission_id': str, 'status': str, 'step_index': int, 'step_count': int, 'step_id': str,
    'step_description': str, 'step_budget': float, 'expected_payload': str,
}  # fmt: skip


class TimelineError(ValueError):
    """A timeline that cannot be read, with where and why."""


@dataclass(frozen=True)
class Event:
    """One action at one time: ``action`` is one of :data:`ACTIONS`; ``spec`` its value."""

    at: float
    action: str
    spec: Any


@dataclass(frozen=True)
class Timeline:
    """Events in time order (stable for equal times: the file's order)."""

    events: tuple[Event, ...] = ()

    def between(self, start: float, end: float) -> list[Event]:
        """Events with ``start <= at < end``."""
        return [event for event in self.events if start <= event.at < end]


def load_timeline(path: Path) -> Timeline:
    """Read and check a timeline file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise TimelineError(f'{path}: cannot read the timeline ({error.strerror})') from error
    except yaml.YAMLError as error:
        raise TimelineError(f'{path}: not valid YAML ({error})') from error
    return timeline_from_dict(data, str(path))


def timeline_from_dict(data: Any, where: str = 'timeline') -> Timeline:
    """Check a parsed timeline (``{'events': [...]}``) and order its events by time."""
    if not isinstance(data, Mapping) or not isinstance(data.get('events'), list):
        raise TimelineError(f'{where}: expected a mapping with an "events" list')
    unknown = set(data) - {'events'}
    if unknown:
        raise TimelineError(f'{where}: unknown keys {sorted(unknown)}; expected only "events"')
    events = [_event(raw, f'{where}: event {i}') for i, raw in enumerate(data['events'])]
    return Timeline(tuple(sorted(events, key=lambda event: event.at)))


def _event(raw: Any, where: str) -> Event:
    if not isinstance(raw, Mapping) or 'at' not in raw:
        raise TimelineError(f'{where}: expected a mapping with "at" and one action')
    at = _number(raw['at'], f'{where}: at')
    if at < 0:
        raise TimelineError(f'{where}: at must be >= 0 s, got {at:g}')
    actions = [key for key in raw if key != 'at']
    if len(actions) != 1 or actions[0] not in ACTIONS:
        raise TimelineError(
            f'{where} (at {at:g} s): expected exactly one action of {list(ACTIONS)}, got {actions}'
        )
    action = actions[0]
    where = f'{where} (at {at:g} s, {action})'
    return Event(at, action, _check(action, raw[action], where))


def _check(action: str, spec: Any, where: str) -> Any:
    if action in _THINGS:
        required = {'name': str, 'x': float, 'y': float}
        optional: dict[str, type] = {}
        if action in ('obstacle', 'person', 'spill'):
            required['radius'] = float
        if action == 'label':
            required |= {'yaw': float, 'payload': str}
            optional = {'size': float}
        if action == 'panel':
            required |= {'yaw': float, 'text': str}
            optional = {'width': float, 'height': float}
        values = _fields(spec, required, optional, where)
        for key in ('radius', 'size', 'width', 'height'):
            if key in values and values[key] <= 0:
                raise TimelineError(f'{where}: {key} must be > 0, got {values[key]:g}')
        return values
    if action == 'remove':
        if not isinstance(spec, str) or not spec:
            raise TimelineError(f'{where}: expected the name of a placed thing')
        return spec
    if action in ('estop', 'camera_covered'):
        if not isinstance(spec, bool):
            raise TimelineError(f'{where}: expected true or false')
        return spec
    if action == 'battery':
        values = _fields(spec, {'percentage': float}, {}, where)
        if not 0.0 <= values['percentage'] <= 1.0:
            raise TimelineError(f'{where}: percentage must be in [0, 1]')
        return values
    if action == 'alarm':
        values = _fields(
            spec,
            {'source': str, 'code': str, 'severity': str, 'text': str},
            {'active': bool, 'values': dict},
            where,
        )
        _choice(values['severity'], SEVERITIES, f'{where}: severity')
        return values
    if action == 'diagnostic':
        values = _fields(
            spec,
            {'name': str, 'level': str, 'message': str},
            {'hardware_id': str, 'values': dict},
            where,
        )
        _choice(values['level'], LEVELS, f'{where}: level')
        return values
    values = _fields(spec, {}, _MISSION_FIELDS, where)
    if not values:
        raise TimelineError(f'{where}: expected at least one of {sorted(_MISSION_FIELDS)}')
    if 'status' in values:
        _choice(values['status'], MISSION_STATUSES, f'{where}: status')
    return values


def _fields(
    spec: Any, required: dict[str, type], optional: dict[str, type], where: str
) -> dict[str, Any]:
    if not isinstance(spec, Mapping):
        raise TimelineError(f'{where}: expected a mapping with {sorted(required)}')
    missing = sorted(set(required) - set(spec))
    unknown = sorted(set(spec) - set(required) - set(optional))
    if missing or unknown:
        raise TimelineError(
            f'{where}: missing {missing}, unknown {unknown}; expected {sorted(required)}'
            + (f' and optionally {sorted(optional)}' if optional else '')
        )
    values: dict[str, Any] = {}
    for key, value in spec.items():
        kind = {**required, **optional}[key]
        if kind is float:
            values[key] = _number(value, f'{where}: {key}')
        elif kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise TimelineError(f'{where}: {key} must be a whole number >= 0')
            values[key] = value
        elif kind is dict:
            if not isinstance(value, Mapping):
                raise TimelineError(f'{where}: {key} must be a mapping of names to values')
            values[key] = {str(k): str(v) for k, v in value.items()}
        elif not isinstance(value, kind):
            raise TimelineError(f'{where}: {key} must be a {kind.__name__}, got {value!r}')
        else:
            values[key] = value
    return values


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TimelineError(f'{where}: expected a finite number, got {value!r}')
    return float(value)


def _choice(value: str, choices: tuple[str, ...], where: str) -> None:
    if value not in choices:
        raise TimelineError(f'{where}: {value!r} is not one of {list(choices)}')
