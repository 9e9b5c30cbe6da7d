"""Alarm rules: what drivers, Nav2 and fleet interfaces report becomes alarm observations.

Four inputs, as plain dataclasses the node fills from the messages: this package's ``Alarm``;
``diagnostic_msgs/DiagnosticStatus`` entries of ``/diagnostics`` (as ``diagnostic_updater``
publishes them for drivers such as Clearpath's husky_base or turtlebot4_diagnostics); ``/rosout``
lines (``rcl_interfaces/Log``, where Nav2's servers report their failures); and a VDA 5050 state's
``safetyState`` and ``errors``. Rules from ``config/perception_rules.yaml`` (plus a site's own
file) say which incident kind and severity each one is evidence of; the first rule that matches
wins. Whatever matches no rule is still evidence, of an ``unknown`` incident: an unrecognised
alarm is never silence.

The output is :class:`~muse_supervisor.domain.evidence.Observation` s with the signal
``alarm.raised`` or ``alarm.cleared``; the matched kind, severity and de-duplication key are
attributes. The device's own text is kept as an untrusted attribute and never put into the
summary: it is evidence, not instruction (DOMAIN.md invariant 5).
"""

from __future__ import annotations

import datetime
import enum
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.vocabulary import IncidentKind, Severity
from muse_supervisor.params.spec import ConfigError

RAISED = 'alarm.raised'
CLEARED = 'alarm.cleared'


class AlarmInput(str, enum.Enum):
    """Which input a rule reads."""

    ALARM = 'alarm'
    DIAGNOSTICS = 'diagnostics'
    ROSOUT = 'rosout'
    VDA5050 = 'vda5050'


class DiagnosticLevel(enum.IntEnum):
    """``diagnostic_msgs/DiagnosticStatus`` levels. STALE means no fresh data, never "fine"."""

    OK = 0
    WARN = 1
    ERROR = 2
    STALE = 3


class LogLevel(enum.IntEnum):
    """``rcl_interfaces/Log`` levels (the ``/rosout`` severities)."""

    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


@dataclass(frozen=True)
class Alarm:
    """The package's own ``Alarm`` message: one device raising or clearing one code."""

    source: str
    code: str
    severity: Severity
    active: bool
    text: str = ''
    values: tuple[tuple[str, str], ...] = ()
    stamp: float = 0.0
    frame_id: str = ''


@dataclass(frozen=True)
class DiagnosticStatus:
    r"""One ``DiagnosticStatus`` of a ``/diagnostics`` array (``stamp``: the array's header).

    ``level`` is a byte on the wire (``b'\\x01'``); :meth:`from_wire` accepts that form.
    """

    level: DiagnosticLevel
    name: str
    message: str = ''
    hardware_id: str = ''
    values: tuple[tuple[str, str], ...] = ()
    stamp: float = 0.0

    @classmethod
    def from_wire(
        cls,
        level: bytes | int,
        name: str,
        message: str = '',
        hardware_id: str = '',
        values: Iterable[tuple[str, str]] = (),
        stamp: float = 0.0,
    ) -> DiagnosticStatus:
        """Build from the message's fields; the level may be the byte rclpy delivers."""
        number = level[0] if isinstance(level, bytes) and len(level) == 1 else level
        if not isinstance(number, int) or number not in DiagnosticLevel._value2member_map_:
            raise ValueError(
                f'diagnostic status {name!r}: level {level!r} is not OK=0, WARN=1, ERROR=2 or '
                'STALE=3'
            )
        return cls(DiagnosticLevel(number), name, message, hardware_id, tuple(values), stamp)


@dataclass(frozen=True)
class LogLine:
    """One ``/rosout`` line (``rcl_interfaces/Log``): level, logger name, text, stamp."""

    level: int
    name: str
    msg: str
    stamp: float
    file: str = ''
    function: str = ''
    line: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for context bundles and scenario files."""
        return {
            'level': self.level,
            'name': self.name,
            'msg': self.msg,
            'stamp': self.stamp,
            'file': self.file,
            'function': self.function,
            'line': self.line,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogLine:
        """Inverse of :meth:`to_dict`."""
        return cls(
            int(data['level']),
            str(data['name']),
            str(data['msg']),
            float(data['stamp']),
            str(data.get('file', '')),
            str(data.get('function', '')),
            int(data.get('line', 0)),
        )


@dataclass(frozen=True)
class VdaError:
    """One entry of a VDA 5050 state's ``errors`` (``errorType``, ``errorLevel``, ...)."""

    error_type: str
    error_level: str
    description: str = ''
    references: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class VdaState:
    """The safety-relevant part of a VDA 5050 ``state`` message.

    ``e_stop`` is ``safetyState.eStop`` of VDA 5050 2.x (AUTOACK, MANUAL, REMOTE, NONE) or
    ``safetyState.activeEmergencyStop`` of 3.x (MANUAL, REMOTE, NONE); ``errors`` is the whole
    current list: an error that was listed and no longer is has cleared.
    """

    e_stop: str
    field_violation: bool
    errors: tuple[VdaError, ...] = ()
    stamp: float = 0.0
    source: str = 'vda5050'


def vda_state_from_json(text: str, source: str = 'vda5050') -> VdaState:
    """The safety part of a VDA 5050 ``state`` message, from its JSON (as MQTT carries it).

    A ROS bridge of the fleet's MQTT broker passes the same JSON in a ``std_msgs/String``.
    Reads ``safetyState.eStop`` (2.x) or ``safetyState.activeEmergencyStop`` (3.x),
    ``safetyState.fieldViolation``, ``errors[]`` (``errorType``, ``errorLevel``,
    ``errorDescription``, ``errorReferences[]``) and ``timestamp`` (ISO 8601, UTC). Other keys
    are the fleet manager's and are ignored. Raises ValueError saying what was wrong.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f'VDA 5050 state from {source!r} is not JSON: {error}') from error
    if not isinstance(document, dict):
        raise ValueError(f'VDA 5050 state from {source!r}: expected a JSON object')
    safety = document.get('safetyState')
    if not isinstance(safety, dict):
        raise ValueError(
            f'VDA 5050 state from {source!r} has no safetyState object (keys: {sorted(document)})'
        )
    e_stop = safety.get('eStop', safety.get('activeEmergencyStop'))
    if not isinstance(e_stop, str):
        raise ValueError(
            f'VDA 5050 state from {source!r}: safetyState needs eStop (2.x) or '
            f'activeEmergencyStop (3.x), a string; got {safety!r}'
        )
    violation = safety.get('fieldViolation', False)
    if not isinstance(violation, bool):
        raise ValueError(
            f'VDA 5050 state from {source!r}: fieldViolation must be true or false, got '
            f'{violation!r}'
        )
    listed = document.get('errors', [])
    if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
        raise ValueError(f'VDA 5050 state from {source!r}: errors must be a list of objects')
    errors = []
    for entry in listed:
        references = entry.get('errorReferences') or []
        errors.append(
            VdaError(
                error_type=str(entry.get('errorType', '')),
                error_level=str(entry.get('errorLevel', '')),
                description=str(entry.get('errorDescription', '')),
                references=tuple(
                    (str(r.get('referenceKey', '')), str(r.get('referenceValue', '')))
                    for r in references
                    if isinstance(r, dict)
                ),
            )
        )
    stamp = 0.0
    written = document.get('timestamp')
    if isinstance(written, str) and written:
        try:
            parsed = datetime.datetime.fromisoformat(written.replace('Z', '+00:00'))
        except ValueError as error:
            raise ValueError(
                f'VDA 5050 state from {source!r}: timestamp {written!r} is not ISO 8601'
            ) from error
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        stamp = parsed.timestamp()
    return VdaState(e_stop, violation, tuple(errors), stamp, source)


_E_STOP_VALUES = ('AUTOACK', 'MANUAL', 'REMOTE', 'NONE')
_VDA_LEVELS = ('WARNING', 'URGENT', 'CRITICAL', 'FATAL')
_VDA_SEVERITY = {
    'WARNING': Severity.WARNING,
    'URGENT': Severity.ERROR,
    'CRITICAL': Severity.ERROR,
    'FATAL': Severity.CRITICAL,
}
_DIAG_SEVERITY = {
    DiagnosticLevel.OK: Severity.INFO,
    DiagnosticLevel.WARN: Severity.WARNING,
    DiagnosticLevel.ERROR: Severity.ERROR,
    DiagnosticLevel.STALE: Severity.WARNING,
}

# Per input: the fields a rule may match on (regular expressions, searched, or lists of levels),
# the fields its key template may use, and the key when the rule gives none.
_REGEX_FIELDS: dict[AlarmInput, tuple[str, ...]] = {
    AlarmInput.ALARM: ('source', 'code', 'text'),
    AlarmInput.DIAGNOSTICS: ('name', 'message', 'hardware_id'),
    AlarmInput.ROSOUT: ('name', 'msg'),
    AlarmInput.VDA5050: ('error_type', 'description'),
}
_LEVEL_FIELD: dict[AlarmInput, tuple[str, tuple[str, ...]]] = {
    AlarmInput.ALARM: ('severity', tuple(s.name.lower() for s in Severity)),
    AlarmInput.DIAGNOSTICS: ('level', tuple(lv.name.lower() for lv in DiagnosticLevel)),
    AlarmInput.ROSOUT: ('level', tuple(lv.name.lower() for lv in LogLevel)),
    AlarmInput.VDA5050: ('error_level', tuple(lv.lower() for lv in _VDA_LEVELS)),
}
_DEFAULT_KEY: dict[AlarmInput, str] = {
    AlarmInput.ALARM: 'alarm:{source}/{code}',
    AlarmInput.DIAGNOSTICS: 'diag:{name}',
    AlarmInput.ROSOUT: 'log:{name}',
    AlarmInput.VDA5050: 'vda:{error_type}',
}
_SAFETY_CHOICES = ('estop', 'field_violation')
_RULE_KEYS = (
    'name',
    'input',
    'match',
    'kind',
    'severity',
    'confidence',
    'key',
    'clears',
    'origin',
)
_NAME = re.compile(r'^[a-z][a-z0-9_]*$')


@dataclass(frozen=True)
class AlarmRule:
    """One rule: which messages of one input it matches and what they are evidence of.

    ``clears``: a match clears the rule's key instead of raising it (Nav2's "Goal succeeded"
    ends the navigation failures that came before it). ``origin`` says which driver or node
    emits what the rule matches; it is documentation, required so that no rule is a guess.
    """

    name: str
    input: AlarmInput
    kind: IncidentKind
    origin: str
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = ()
    levels: frozenset[str] = frozenset()
    values: tuple[tuple[str, re.Pattern[str]], ...] = ()
    safety: str = ''
    severity: Severity | None = None
    confidence: float = 0.9
    key: str = ''
    clears: bool = False

    def matches(
        self, fields: Mapping[str, str], level: str, values: Sequence[tuple[str, str]]
    ) -> bool:
        """Whether a message with these fields, level name and key-values matches the rule."""
        if self.levels and level not in self.levels:
            return False
        for name, pattern in self.patterns:
            if not pattern.search(fields.get(name, '')):
                return False
        for key, pattern in self.values:
            if not any(k == key and pattern.search(v) for k, v in values):
                return False
        return True

    def key_for(self, fields: Mapping[str, str]) -> str:
        """The de-duplication key of a match: the rule's template filled with the fields."""
        return (self.key or _DEFAULT_KEY[self.input]).format_map(_Fields(fields))


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ''


@dataclass(frozen=True)
class RosoutSettings:
    """Which ``/rosout`` lines count: from ``min_level`` up, and not from ``ignore_names``.

    Lines below ``min_level`` become evidence only when a rule matches them (success lines that
    clear); the supervisor's own nodes are ignored so that its own logs never feed back into it
    (their problems arrive as ``Alarm`` messages).
    """

    min_level: LogLevel = LogLevel.WARN
    ignore_names: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class AlarmRules:
    """The ordered rules (a site's first, then the defaults) and the ``/rosout`` settings."""

    rules: tuple[AlarmRule, ...]
    rosout: RosoutSettings = field(default_factory=RosoutSettings)

    def first(
        self,
        kind: AlarmInput,
        fields: Mapping[str, str],
        level: str,
        values: Sequence[tuple[str, str]] = (),
        safety: str = '',
    ) -> AlarmRule | None:
        """The first rule for input ``kind`` that matches, or None."""
        for rule in self.rules:
            if (
                rule.input is kind
                and rule.safety == safety
                and rule.matches(fields, level, values)
            ):
                return rule
        return None


def parse_alarm_rules(
    entries: Any, where: str, rosout: Mapping[str, Any] | None = None
) -> AlarmRules:
    """Validate the ``alarm_rules`` list of a rules file; :class:`ConfigError` says what is wrong.

    ``where`` names the file (and section) in the messages, e.g. ``config/perception_rules.yaml``.
    """
    if not isinstance(entries, list):
        raise ConfigError(f'{where}: alarm_rules must be a list of rules, got {entries!r}')
    rules = [_parse_rule(entry, f'{where}: alarm_rules[{i}]') for i, entry in enumerate(entries)]
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f'{where}: alarm rule names must be unique; repeated: {duplicates}')
    return AlarmRules(tuple(rules), parse_rosout_settings(rosout or {}, f'{where}: rosout'))


def parse_rosout_settings(section: Any, where: str) -> RosoutSettings:
    """Validate the ``rosout`` section (``min_level``, ``ignore_names``)."""
    if not isinstance(section, Mapping):
        raise ConfigError(f'{where}: expected a mapping with min_level and ignore_names')
    unknown = sorted(set(section) - {'min_level', 'ignore_names'})
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; expected min_level, ignore_names')
    level_name = section.get('min_level', 'warn')
    levels = {lv.name.lower(): lv for lv in LogLevel}
    if level_name not in levels:
        raise ConfigError(
            f'{where}: key min_level: got {level_name!r}, expected one of {sorted(levels)}'
        )
    names = section.get('ignore_names', [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{where}: key ignore_names: got {names!r}, expected a list of regexes')
    patterns = tuple(_compile(n, where, 'ignore_names') for n in names)
    return RosoutSettings(levels[level_name], patterns)


def _parse_rule(entry: Any, where: str) -> AlarmRule:
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f'{where}: expected a mapping (name, input, match, kind, ...), got {entry!r}'
        )
    name = entry.get('name')
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f'{where}: key name: got {name!r}, expected lower-case letters, digits and '
            'underscores, starting with a letter'
        )
    where = f'{where} ({name})'
    unknown = sorted(set(entry) - set(_RULE_KEYS))
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; expected {list(_RULE_KEYS)}')
    inputs = [i.value for i in AlarmInput]
    if entry.get('input') not in inputs:
        raise ConfigError(
            f'{where}: key input: got {entry.get("input")!r}, expected one of {inputs}'
        )
    kind_of_input = AlarmInput(entry['input'])
    kind = parse_kind(entry.get('kind'), where)
    origin = entry.get('origin')
    if not isinstance(origin, str) or not origin.strip():
        raise ConfigError(
            f'{where}: key origin: expected a sentence naming the driver or node that emits what '
            'the rule matches'
        )
    match = entry.get('match', {})
    if not isinstance(match, Mapping):
        raise ConfigError(f'{where}: key match: got {match!r}, expected a mapping of fields')
    regex_fields = _REGEX_FIELDS[kind_of_input]
    level_field, level_choices = _LEVEL_FIELD[kind_of_input]
    allowed = [*regex_fields, level_field]
    if kind_of_input is AlarmInput.DIAGNOSTICS:
        allowed.append('values')
    if kind_of_input is AlarmInput.VDA5050:
        allowed.append('safety')
    unknown = sorted(set(match) - set(allowed))
    if unknown:
        raise ConfigError(
            f'{where}: match: unknown field(s) {unknown}; a {kind_of_input.value} rule may match '
            f'{allowed}'
        )
    patterns = tuple(
        (f, _compile(match[f], where, f'match.{f}')) for f in regex_fields if f in match
    )
    levels: frozenset[str] = frozenset()
    if level_field in match:
        raw = match[level_field]
        listed = raw if isinstance(raw, list) else [raw]
        bad = [lv for lv in listed if lv not in level_choices]
        if bad or not listed:
            raise ConfigError(
                f'{where}: match.{level_field}: got {raw!r}, expected a list of '
                f'{list(level_choices)}'
            )
        levels = frozenset(listed)
    values: tuple[tuple[str, re.Pattern[str]], ...] = ()
    if 'values' in match:
        raw_values = match['values']
        if not isinstance(raw_values, Mapping):
            raise ConfigError(f'{where}: match.values: expected a mapping of key: regex')
        values = tuple(
            (str(k), _compile(v, where, f'match.values.{k}')) for k, v in raw_values.items()
        )
    safety = match.get('safety', '')
    if safety and safety not in _SAFETY_CHOICES:
        raise ConfigError(
            f'{where}: match.safety: got {safety!r}, expected one of {list(_SAFETY_CHOICES)}'
        )
    severity_name = entry.get('severity', 'from_input')
    severity = None if severity_name == 'from_input' else parse_severity(severity_name, where)
    confidence = entry.get('confidence', 0.9)
    if (
        not isinstance(confidence, (int, float))
        or isinstance(confidence, bool)
        or not 0.0 < confidence <= 1.0
    ):
        raise ConfigError(
            f'{where}: key confidence: got {confidence!r}, expected a number in (0, 1]'
        )
    key = entry.get('key', '')
    if not isinstance(key, str):
        raise ConfigError(f'{where}: key key: got {key!r}, expected a template string')
    _check_template(key, kind_of_input, where)
    clears = entry.get('clears', False)
    if not isinstance(clears, bool):
        raise ConfigError(f'{where}: key clears: got {clears!r}, expected true or false')
    return AlarmRule(
        name=name,
        input=kind_of_input,
        kind=kind,
        origin=origin.strip(),
        patterns=patterns,
        levels=levels,
        values=values,
        safety=safety,
        severity=severity,
        confidence=float(confidence),
        key=key,
        clears=clears,
    )


def parse_kind(value: Any, where: str) -> IncidentKind:
    """An incident kind written in lower case (``motor_fault``); :class:`ConfigError` if not."""
    kinds = [kind.name.lower() for kind in IncidentKind]
    if not isinstance(value, str) or value not in kinds:
        raise ConfigError(f'{where}: key kind: got {value!r}, expected one of {kinds}')
    return IncidentKind[value.upper()]


def parse_severity(value: Any, where: str, key: str = 'severity') -> Severity:
    """A severity written in lower case (``warning``); :class:`ConfigError` if not."""
    names = [severity.name.lower() for severity in Severity]
    if not isinstance(value, str) or value not in names:
        raise ConfigError(f'{where}: key {key}: got {value!r}, expected one of {names}')
    return Severity[value.upper()]


def _compile(value: Any, where: str, key: str) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise ConfigError(f'{where}: key {key}: got {value!r}, expected a regular expression')
    try:
        return re.compile(value)
    except re.error as error:
        raise ConfigError(
            f'{where}: key {key}: {value!r} is not a valid regular expression ({error})'
        ) from error


def _check_template(template: str, kind: AlarmInput, where: str) -> None:
    allowed = set(_REGEX_FIELDS[kind]) | {'level'}
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        raise ConfigError(
            f'{where}: key key: {template!r} is not a valid template ({error})'
        ) from error
    bad = sorted(used - allowed)
    if bad:
        raise ConfigError(
            f'{where}: key key: {template!r} uses {bad}; a {kind.value} key may use '
            f'{sorted(allowed)} in braces'
        )


class AlarmInterpreter:
    """Applies the rules to each input and remembers what is raised, so clears can be sent.

    Stateful only in what a clear needs: which keys a diagnostic status name, an alarm's
    (source, code) or a VDA 5050 error raised. Time comes from the inputs' own stamps.
    """

    def __init__(self, rules: AlarmRules, robot_id: str = '') -> None:
        self._rules = rules
        self._robot_id = robot_id
        self._diag_raised: dict[str, set[str]] = {}
        self._alarm_raised: dict[tuple[str, str], set[str]] = {}
        self._vda_raised: dict[str, str] = {}

    @property
    def rules(self) -> AlarmRules:
        """The rules in use."""
        return self._rules

    def alarm(self, alarm: Alarm, topic: str = 'alarms') -> list[Observation]:
        """An ``Alarm`` message: raised, or the clear of what the same (source, code) raised."""
        fields = {'source': alarm.source, 'code': alarm.code, 'text': alarm.text}
        level = alarm.severity.name.lower()
        ident = (alarm.source, alarm.code)
        if not alarm.active:
            keys = self._alarm_raised.pop(ident, set())
            if not keys:
                rule = self._rules.first(AlarmInput.ALARM, fields, level, alarm.values)
                keys = {
                    rule.key_for(fields)
                    if rule
                    else _DEFAULT_KEY[AlarmInput.ALARM].format_map(_Fields(fields))
                }
            return [
                self._clear(key, AlarmInput.ALARM, topic, alarm.stamp, alarm.source, alarm.text)
                for key in sorted(keys)
            ]
        rule = self._rules.first(AlarmInput.ALARM, fields, level, alarm.values)
        observation = self._raise(
            rule,
            AlarmInput.ALARM,
            fields,
            topic,
            alarm.stamp,
            alarm.severity,
            origin=f'alarm {alarm.source}/{alarm.code}',
            text=alarm.text,
            values=alarm.values,
            level=level,
            frame_id=alarm.frame_id,
        )
        if observation.signal == RAISED:
            self._alarm_raised.setdefault(ident, set()).add(observation.attribute('key'))
        return [observation]

    def diagnostics(
        self, statuses: Iterable[DiagnosticStatus], topic: str = 'diagnostics'
    ) -> list[Observation]:
        """Every status of one ``/diagnostics`` array (see :meth:`diagnostic`)."""
        return [obs for status in statuses for obs in self.diagnostic(status, topic)]

    def diagnostic(
        self, status: DiagnosticStatus, topic: str = 'diagnostics'
    ) -> list[Observation]:
        """One status: WARN, ERROR and STALE raise; OK after one of them clears that status.

        An OK status that had raised nothing says nothing new and gives no observation (the
        node still counts it as data received, for staleness).
        """
        fields = {
            'name': status.name,
            'message': status.message,
            'hardware_id': status.hardware_id,
        }
        level = status.level.name.lower()
        if status.level is DiagnosticLevel.OK:
            rule = self._rules.first(AlarmInput.DIAGNOSTICS, fields, level, status.values)
            keys = self._diag_raised.pop(status.name, set())
            if rule is not None and rule.clears:
                keys.add(rule.key_for(fields))
            return [
                self._clear(
                    key, AlarmInput.DIAGNOSTICS, topic, status.stamp, status.name, status.message
                )
                for key in sorted(keys)
            ]
        rule = self._rules.first(AlarmInput.DIAGNOSTICS, fields, level, status.values)
        observation = self._raise(
            rule,
            AlarmInput.DIAGNOSTICS,
            fields,
            topic,
            status.stamp,
            _DIAG_SEVERITY[status.level],
            origin=f'diagnostic status {status.name!r}',
            text=status.message,
            values=status.values,
            level=level,
            stale=status.level is DiagnosticLevel.STALE,
            hardware_id=status.hardware_id,
        )
        if observation.signal == RAISED:
            self._diag_raised.setdefault(status.name, set()).add(observation.attribute('key'))
        return [observation]

    def log(self, line: LogLine, topic: str = 'rosout') -> list[Observation]:
        """A ``/rosout`` line: rules match on logger name, text and level.

        Lines from ignored loggers give nothing; unmatched lines below ``min_level`` (INFO chatter)
        give nothing; unmatched lines from ``min_level`` up become ``unknown`` evidence.
        """
        settings = self._rules.rosout
        if any(pattern.search(line.name) for pattern in settings.ignore_names):
            return []
        level = _log_level_name(line.level)
        fields = {'name': line.name, 'msg': line.msg}
        rule = self._rules.first(AlarmInput.ROSOUT, fields, level)
        if rule is not None and rule.clears:
            return [
                self._clear(
                    rule.key_for(fields),
                    AlarmInput.ROSOUT,
                    topic,
                    line.stamp,
                    line.name,
                    line.msg,
                    rule=rule.name,
                )
            ]
        if rule is None and line.level < settings.min_level:
            return []
        severity = _log_severity(line.level)
        return [
            self._raise(
                rule,
                AlarmInput.ROSOUT,
                fields,
                topic,
                line.stamp,
                severity,
                origin=f'log line of {line.name or "?"}',
                text=line.msg,
                level=level,
            )
        ]

    def vda_state(self, state: VdaState, topic: str = 'vda5050/state') -> list[Observation]:
        """A VDA 5050 state: e-stop and field violation, and the errors listed (or no longer)."""
        if state.e_stop not in _E_STOP_VALUES:
            raise ValueError(
                f'VDA 5050 state from {state.source!r}: eStop {state.e_stop!r} is not one of '
                f'{list(_E_STOP_VALUES)}'
            )
        out: list[Observation] = []
        safety = (
            ('estop', state.e_stop != 'NONE', f'eStop {state.e_stop}'),
            ('field_violation', state.field_violation, 'protective field violated'),
        )
        for name, active, text in safety:
            fields = {'error_type': name, 'description': text}
            rule = self._rules.first(AlarmInput.VDA5050, fields, '', safety=name)
            key = rule.key_for(fields) if rule else f'vda:{name}'
            if active:
                out.append(
                    self._raise(
                        rule,
                        AlarmInput.VDA5050,
                        fields,
                        topic,
                        state.stamp,
                        Severity.CRITICAL,
                        origin=f'VDA 5050 safetyState of {state.source}',
                        text=text,
                        level='fatal',
                        key=key,
                    )
                )
                self._vda_raised[f'safety:{name}'] = key
            elif self._vda_raised.pop(f'safety:{name}', ''):
                out.append(
                    self._clear(key, AlarmInput.VDA5050, topic, state.stamp, state.source, text)
                )
        present: set[str] = set()
        for error in state.errors:
            level = error.error_level.lower()
            if error.error_level not in _VDA_LEVELS:
                raise ValueError(
                    f'VDA 5050 error {error.error_type!r}: errorLevel {error.error_level!r} is '
                    f'not one of {list(_VDA_LEVELS)}'
                )
            fields = {'error_type': error.error_type, 'description': error.description}
            rule = self._rules.first(AlarmInput.VDA5050, fields, level, error.references)
            observation = self._raise(
                rule,
                AlarmInput.VDA5050,
                fields,
                topic,
                state.stamp,
                _VDA_SEVERITY[error.error_level],
                origin=f'VDA 5050 error {error.error_type}',
                text=error.description,
                values=error.references,
                level=level,
            )
            out.append(observation)
            ident = f'error:{error.error_type}'
            present.add(ident)
            self._vda_raised[ident] = observation.attribute('key')
        for ident in sorted(k for k in self._vda_raised if k.startswith('error:')):
            if ident not in present:
                key = self._vda_raised.pop(ident)
                out.append(
                    self._clear(
                        key,
                        AlarmInput.VDA5050,
                        topic,
                        state.stamp,
                        state.source,
                        ident.removeprefix('error:'),
                    )
                )
        return out

    def _raise(
        self,
        rule: AlarmRule | None,
        kind_of_input: AlarmInput,
        fields: Mapping[str, str],
        topic: str,
        stamp: float,
        input_severity: Severity,
        *,
        origin: str,
        text: str,
        level: str,
        values: Sequence[tuple[str, str]] = (),
        stale: bool = False,
        key: str = '',
        hardware_id: str = '',
        frame_id: str = '',
    ) -> Observation:
        if rule is not None and rule.clears:
            return self._clear(
                rule.key_for(fields), kind_of_input, topic, stamp, origin, text, rule=rule.name
            )
        kind = rule.kind if rule else IncidentKind.UNKNOWN
        severity = rule.severity if rule and rule.severity is not None else input_severity
        key = key or (
            rule.key_for(fields)
            if rule
            else _DEFAULT_KEY[kind_of_input].format_map(_Fields(fields))
        )
        rule_name = rule.name if rule else 'unmatched'
        what = 'data stale' if stale else level.upper()
        summary = (
            f'{origin} {what}: {kind.name.lower()} (rule {rule_name})'
            if rule
            else f'{origin} {what}: matches no rule, unknown incident'
        )
        attributes = [
            ('kind', kind.name.lower()),
            ('severity', severity.name.lower()),
            ('key', key),
            ('rule', rule_name),
            ('input', kind_of_input.value),
            ('level', level),
            ('origin', origin),
            ('text', text),
        ]
        if stale:
            attributes.append(('stale', 'true'))
        if hardware_id:
            attributes.append(('hardware_id', hardware_id))
        attributes.extend((f'value.{k}', v) for k, v in values)
        if self._robot_id:
            attributes.append(('robot_id', self._robot_id))
        untrusted = ('origin', 'text', *(f'value.{k}' for k, _ in values))
        if hardware_id:
            untrusted += ('hardware_id',)
        return Observation(
            signal=RAISED,
            source=_source_of(kind_of_input, fields),
            topic=topic,
            producer=f'alarm_rules:{rule_name}',
            summary=summary,
            stamp=stamp,
            confidence=rule.confidence if rule else 0.5,
            active=True,
            trusted=False,
            frame_id=frame_id,
            attributes=tuple(attributes),
            untrusted=untrusted,
        )

    def _clear(
        self,
        key: str,
        kind_of_input: AlarmInput,
        topic: str,
        stamp: float,
        origin: str,
        text: str,
        rule: str = '',
    ) -> Observation:
        attributes = (
            ('key', key),
            ('rule', rule),
            ('input', kind_of_input.value),
            ('origin', origin),
            ('text', text),
        )
        return Observation(
            signal=CLEARED,
            source=_source_of(kind_of_input, {}),
            topic=topic,
            producer=f'alarm_rules:{rule or "clear"}',
            summary=f'{kind_of_input.value} cleared {key}',
            stamp=stamp,
            active=False,
            trusted=False,
            attributes=attributes,
            untrusted=('origin', 'text'),
        )


def _source_of(kind_of_input: AlarmInput, fields: Mapping[str, str]) -> EvidenceSource:
    if kind_of_input is AlarmInput.VDA5050 and fields.get('error_type') == 'estop':
        return EvidenceSource.ESTOP
    if kind_of_input is AlarmInput.VDA5050 and fields.get('error_type') == 'field_violation':
        return EvidenceSource.SAFETY_SCANNER
    return EvidenceSource.ALARM


def _log_level_name(level: int) -> str:
    """The name of the highest ``LogLevel`` at or below ``level`` (unset lines read as debug)."""
    name = 'debug'
    for candidate in LogLevel:
        if level >= candidate:
            name = candidate.name.lower()
    return name


def _log_severity(level: int) -> Severity:
    if level >= LogLevel.FATAL:
        return Severity.CRITICAL
    if level >= LogLevel.ERROR:
        return Severity.ERROR
    if level >= LogLevel.WARN:
        return Severity.WARNING
    return Severity.INFO
