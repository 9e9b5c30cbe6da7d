"""Incidents: observations become one incident per cause, with a lifecycle that tells the truth.

The incident rules (``incident_rules`` in ``config/perception_rules.yaml``) map observation
signals to incident kinds. Each cause has a de-duplication key; its condition is *raised* only
after the signal persisted for the rule's ``raise_after`` (debounce) and *cleared* only after it
was seen clear for ``clear_after`` (hysteresis), so a flickering signal never opens an incident per
frame. Causes that are present together share one incident while nothing is executing for it:
the most safety-critical kind governs, the others are ``other_kinds``.

Resolved means verified. After a plan starts executing, the incident is resolved only when every
cause is seen cleared after that start; if that has not happened ``verify_timeout`` seconds after
the plan ended (or started, when no end is reported) the incident fails, with the reason. When the
robot's inputs have gone silent, no verdict is given: the incident is shown stale ("no data since
t") and keeps its state until data comes back.

Everything takes ``now`` (and observations carry their own stamps); nothing reads a clock here.
"""

from __future__ import annotations

import fnmatch
import math
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.domain.incidents import (
    TERMINAL_STATES,
    Cause,
    IllegalTransitionError,
    IncidentSnapshot,
    IncidentState,
    Transition,
    check_transition,
)
from muse_supervisor.domain.vocabulary import (
    SAFETY_PRIORITY,
    IncidentKind,
    Severity,
    governing_kind,
)
from muse_supervisor.params.spec import ConfigError
from muse_supervisor.perception.alarms import parse_kind, parse_severity

FROM_OBSERVATION = 'from_observation'
# Never debounced: a person or an e-stop counts from its first observation (invariant 2).
UNDEBOUNCED_KINDS = frozenset({IncidentKind.PERSON_IN_ZONE, IncidentKind.ESTOP_ACTIVE})
_TEMPLATE_FIELDS = ('signal', 'topic', 'producer', 'source', 'frame_id')
_RULE_KEYS = (
    'name',
    'signals',
    'kind',
    'severity',
    'cause',
    'raise_after',
    'clear_after',
    'verify_timeout',
    'auto_resolve',
    'confidence',
    'origin',
    'kinds',
    'where',
)
_SETTING_KEYS = (
    'stale_after',
    'keep_per_cause',
    'always_keep',
    'max_evidence',
    'max_attempts',
    'merge',
    'max_closed',
)


class UnknownIncidentError(KeyError):
    """No incident has this id (closed ones are forgotten after ``max_closed`` newer ones)."""


@dataclass(frozen=True)
class IncidentRule:
    """Which signals are evidence of which kind, and how they are debounced and verified.

    ``kind``/``severity`` None: taken from the observation's ``kind``/``severity`` attributes
    (alarm observations carry the alarm rule's verdict). ``cause`` is the de-duplication key
    template: observation fields and attributes in braces, ``{signal}@{topic}`` by default.
    ``auto_resolve``: a condition that clears with no plan executed resolves the incident.
    ``kinds``: only observations whose ``kind`` attribute is one of these (empty: any), so that
    e-stop alarms can be treated apart from other alarms. ``where``: attribute values the
    condition needs besides being active (the camera's person counts only ``in_corridor``); an
    active observation with other values is the condition seen cleared, so a person who walks
    out of the corridor clears it.
    """

    name: str
    signals: tuple[str, ...]
    kind: IncidentKind | None
    severity: Severity | None
    cause: str = '{signal}@{topic}'
    raise_after: float = 0.0
    clear_after: float = 0.0
    verify_timeout: float = 60.0
    auto_resolve: bool = True
    confidence: float = 1.0
    origin: str = ''
    kinds: frozenset[IncidentKind] = frozenset()
    where: tuple[tuple[str, str], ...] = ()

    def shows_condition(self, observation: Observation) -> bool:
        """Active, with every ``where`` attribute as required; anything else is a clear."""
        if not observation.active:
            return False
        attributes = dict(observation.attributes)
        return all(attributes.get(name) == value for name, value in self.where)

    def applies_to(self, observation: Observation) -> bool:
        """Whether the rule matches: its signal patterns (``fnmatch``), then its ``kinds``.

        A signal such as ``image.*`` matches every image signal; with ``kinds`` listed, the
        observation's ``kind`` attribute must also be one of them.
        """
        if self.kinds and _kind_attribute(observation) not in self.kinds:
            return False
        return any(fnmatch.fnmatchcase(observation.signal, pattern) for pattern in self.signals)


@dataclass(frozen=True)
class IncidentSettings:
    """Tracker-wide settings (the ``incidents`` section of the rules file)."""

    stale_after: float = 5.0
    keep_per_cause: int = 3
    always_keep: Severity = Severity.ERROR
    max_evidence: int = 200
    max_attempts: int = 3
    merge: bool = True
    max_closed: int = 100


@dataclass(frozen=True)
class IncidentRules:
    """The ordered incident rules (first match wins) and the settings."""

    rules: tuple[IncidentRule, ...]
    settings: IncidentSettings = field(default_factory=IncidentSettings)

    def rule_for(self, observation: Observation) -> IncidentRule | None:
        """The first rule that applies; None: the observation is not incident evidence."""
        return next((rule for rule in self.rules if rule.applies_to(observation)), None)


def parse_incident_rules(entries: Any, settings: Any, where: str) -> IncidentRules:
    """Validate ``incident_rules`` and ``incidents``; :class:`ConfigError` names rule and key."""
    if not isinstance(entries, list):
        raise ConfigError(f'{where}: incident_rules must be a list of rules, got {entries!r}')
    rules = tuple(
        _parse_rule(entry, f'{where}: incident_rules[{i}]') for i, entry in enumerate(entries)
    )
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f'{where}: incident rule names must be unique; repeated: {duplicates}')
    return IncidentRules(rules, parse_settings(settings or {}, f'{where}: incidents'))


def parse_settings(section: Any, where: str) -> IncidentSettings:
    """Validate the ``incidents`` section."""
    if not isinstance(section, Mapping):
        raise ConfigError(f'{where}: expected a mapping of {list(_SETTING_KEYS)}')
    unknown = sorted(set(section) - set(_SETTING_KEYS))
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; expected {list(_SETTING_KEYS)}')
    defaults = IncidentSettings()
    merge = section.get('merge', defaults.merge)
    if not isinstance(merge, bool):
        raise ConfigError(f'{where}: key merge: got {merge!r}, expected true or false')
    return IncidentSettings(
        stale_after=_number(section, 'stale_after', defaults.stale_after, where, 0.1, 3600.0),
        keep_per_cause=int(
            _number(section, 'keep_per_cause', defaults.keep_per_cause, where, 1, 1000, True)
        ),
        always_keep=parse_severity(section.get('always_keep', 'error'), where, 'always_keep'),
        max_evidence=int(
            _number(section, 'max_evidence', defaults.max_evidence, where, 1, 100000, True)
        ),
        max_attempts=int(
            _number(section, 'max_attempts', defaults.max_attempts, where, 1, 100, True)
        ),
        merge=merge,
        max_closed=int(
            _number(section, 'max_closed', defaults.max_closed, where, 0, 100000, True)
        ),
    )


def _number(
    section: Mapping[str, Any],
    key: str,
    default: float,
    where: str,
    low: float,
    high: float,
    integer: bool = False,
) -> float:
    value = section.get(key, default)
    ok = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        what = 'an integer' if integer else 'a number of seconds' if 'after' in key else 'a number'
        raise ConfigError(f'{where}: key {key}: got {value!r}, expected {what} in [{low}, {high}]')
    return float(value)


def _parse_rule(entry: Any, where: str) -> IncidentRule:
    if not isinstance(entry, Mapping):
        raise ConfigError(f'{where}: expected a mapping (name, signals, kind, ...), got {entry!r}')
    name = entry.get('name')
    if not isinstance(name, str) or not name:
        raise ConfigError(f'{where}: key name: got {name!r}, expected a non-empty string')
    where = f'{where} ({name})'
    unknown = sorted(set(entry) - set(_RULE_KEYS))
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; expected {list(_RULE_KEYS)}')
    signals = entry.get('signals')
    if isinstance(signals, str):
        signals = [signals]
    if (
        not isinstance(signals, list)
        or not signals
        or not all(isinstance(s, str) and s for s in signals)
    ):
        raise ConfigError(
            f'{where}: key signals: got {signals!r}, expected a list of signal names or patterns '
            '(e.g. [image.dark, "image.*"])'
        )
    kind_value = entry.get('kind')
    kind = None if kind_value == FROM_OBSERVATION else parse_kind(kind_value, where)
    severity_value = entry.get('severity', 'warning')
    severity = (
        None if severity_value == FROM_OBSERVATION else parse_severity(severity_value, where)
    )
    cause = entry.get('cause', '{signal}@{topic}')
    if not isinstance(cause, str) or not cause:
        raise ConfigError(f'{where}: key cause: got {cause!r}, expected a key template')
    try:
        list(string.Formatter().parse(cause))
    except ValueError as error:
        raise ConfigError(
            f'{where}: key cause: {cause!r} is not a valid template ({error})'
        ) from error
    raise_after = _number(entry, 'raise_after', 0.0, where, 0.0, 3600.0)
    if kind in UNDEBOUNCED_KINDS and raise_after > 0.0:
        raise ConfigError(
            f'{where}: key raise_after: got {raise_after}, expected 0 for {kind.name.lower()}: a '
            'person or an e-stop is never debounced'
        )
    auto_resolve = entry.get('auto_resolve', True)
    if not isinstance(auto_resolve, bool):
        raise ConfigError(f'{where}: key auto_resolve: got {auto_resolve!r}, expected true/false')
    listed = entry.get('kinds', [])
    if not isinstance(listed, list):
        raise ConfigError(f'{where}: key kinds: got {listed!r}, expected a list of incident kinds')
    kinds = frozenset(parse_kind(k, where) for k in listed)
    required = entry.get('where', {})
    if not isinstance(required, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in required.items()
    ):
        raise ConfigError(
            f'{where}: key where: got {required!r}, expected a map of attribute names to values '
            '(e.g. {in_corridor: true})'
        )
    origin = entry.get('origin', '')
    if not isinstance(origin, str):
        raise ConfigError(f'{where}: key origin: got {origin!r}, expected a string')
    return IncidentRule(
        name=name,
        signals=tuple(signals),
        kind=kind,
        severity=severity,
        cause=cause,
        raise_after=raise_after,
        clear_after=_number(entry, 'clear_after', 0.0, where, 0.0, 3600.0),
        verify_timeout=_number(entry, 'verify_timeout', 60.0, where, 0.1, 86400.0),
        auto_resolve=auto_resolve,
        confidence=_number(entry, 'confidence', 1.0, where, 0.0, 1.0),
        origin=origin,
        kinds=kinds,
        where=tuple((k, _attribute_text(v)) for k, v in sorted(required.items())),
    )


def _attribute_text(value: str | int | float | bool) -> str:
    """A rule's required value as observations write attributes (booleans lower case)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ''


def cause_key(rule: IncidentRule, observation: Observation) -> str:
    """The de-duplication key of ``observation`` under ``rule`` (template filled in)."""
    values = _Fields(observation.attributes)
    values.update(
        signal=observation.signal,
        topic=observation.topic,
        producer=observation.producer,
        source=observation.source.name.lower(),
        frame_id=observation.frame_id,
    )
    return rule.cause.format_map(values)


@dataclass
class _Condition:
    """One cause's debounce/hysteresis state and its evidence bookkeeping."""

    key: str
    rule: IncidentRule
    kind: IncidentKind
    severity: Severity
    confidence: float
    first_seen: float
    last_seen: float
    summary: str = ''
    raised: bool = False
    pending_since: float | None = None
    pending: list[Observation] = field(default_factory=list)
    pending_count: int = 0
    clear_since: float | None = None
    last_clear_seen: float = -math.inf
    observations: int = 0
    suppressed: int = 0
    kept: int = 0
    last_kept_severity: Severity | None = None
    latest: Observation | None = None
    incident_id: str | None = None


@dataclass
class _Incident:
    id: str
    robot_id: str
    dedup_key: str
    opened: float
    updated: float
    state: IncidentState = IncidentState.OPEN
    causes: dict[str, _Condition] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    evidence: list[Observation] = field(default_factory=list)
    suppressed: int = 0
    owner: str = ''
    acknowledged_by: str = ''
    state_reason: str = ''
    attempts: int = 0
    execution_started: float | None = None
    verify_deadline: float | None = None
    severity_history: list[tuple[float, Severity]] = field(default_factory=list)
    stale_shown: bool = False


class IncidentTracker:
    """The incidents of one robot: fed observations and lifecycle calls, it returns snapshots.

    Every method that changes something returns the snapshots of the incidents it changed, which
    is what the node publishes (and the recorder flushes). ``note_input`` tells the tracker that
    data arrived at all (any message on any input), which is what staleness is measured against.
    """

    def __init__(self, rules: IncidentRules, robot_id: str = 'robot') -> None:
        self._rules = rules
        self._settings = rules.settings
        self._robot_id = robot_id
        self._conditions: dict[str, _Condition] = {}
        self._incidents: dict[str, _Incident] = {}
        self._sequence = 0
        self._last_data = -math.inf
        self.debounced = 0
        """Active observations of conditions that cleared before their debounce time."""

    @property
    def last_data(self) -> float:
        """Stamp of the newest input seen (``-inf`` before any)."""
        return self._last_data

    def note_input(self, stamp: float) -> None:
        """Data arrived on some input at ``stamp`` (a heartbeat, a frame, an OK diagnostic)."""
        if math.isfinite(stamp):
            self._last_data = max(self._last_data, stamp)

    # ---------------------------------------------------------------- evidence

    def observe(self, observation: Observation, now: float) -> list[IncidentSnapshot]:
        """Take one observation; return the incidents it opened or changed.

        It does not count as data from the robot: an observation may be derived (odometry went
        silent, the camera stream stopped), and a derived one must not keep a silent robot from
        showing stale. Callers note real inputs with :meth:`note_input`.
        """
        rule = self._rules.rule_for(observation)
        if rule is None:
            return []
        key = cause_key(rule, observation)
        condition = self._conditions.get(key)
        changed: set[str] = set()
        if not rule.shows_condition(observation):
            if condition is not None:
                if observation.active:  # active, but not what the rule's `where` asks for
                    wanted = ', '.join(f'{k}={v}' for k, v in rule.where)
                    observation = replace(
                        observation, active=False,
                        summary=f'{observation.summary} (not {wanted}: cleared for this rule)',
                    )  # fmt: skip
                self._on_clear(condition, observation, changed)
        else:
            condition = self._on_active(rule, key, condition, observation, changed)
        changed |= self._evaluate(now)
        return [
            self._snapshot(self._incidents[i], now)
            for i in sorted(changed)
            if i in self._incidents
        ]

    def tick(self, now: float) -> list[IncidentSnapshot]:
        """Advance time: hysteresis clears, verification deadlines, staleness changes."""
        changed = self._evaluate(now)
        for incident in self._incidents.values():
            stale = self._is_stale(incident, now)
            if stale != incident.stale_shown:
                incident.stale_shown = stale
                changed.add(incident.id)
        return [self._snapshot(self._incidents[i], now) for i in sorted(changed)]

    def _on_active(
        self,
        rule: IncidentRule,
        key: str,
        condition: _Condition | None,
        observation: Observation,
        changed: set[str],
    ) -> _Condition:
        kind = rule.kind if rule.kind is not None else _kind_attribute(observation)
        severity = rule.severity if rule.severity is not None else _severity_attribute(observation)
        stamp = observation.stamp
        if condition is None:
            condition = _Condition(
                key, rule, kind, severity, observation.confidence * rule.confidence, stamp, stamp
            )
            self._conditions[key] = condition
        condition.kind, condition.severity = kind, severity
        condition.confidence = observation.confidence * rule.confidence
        condition.last_seen = max(condition.last_seen, stamp)
        condition.summary = observation.summary
        condition.clear_since = None
        condition.latest = observation
        condition.observations += 1
        incident = self._incidents.get(condition.incident_id or '')
        if condition.raised and incident is not None and incident.state in TERMINAL_STATES:
            # Dismissed while the cause persists: counted, and no new incident until it clears.
            condition.suppressed += 1
            return condition
        if condition.raised and incident is not None:
            self._keep(incident, condition, observation, severity)
            self._refresh(incident, stamp)
            changed.add(incident.id)
            return condition
        if condition.pending_since is None:
            condition.pending_since = stamp
        condition.pending_count += 1
        if len(condition.pending) < self._settings.keep_per_cause:
            condition.pending.append(observation)
        debounce = 0.0 if kind in UNDEBOUNCED_KINDS else rule.raise_after
        if stamp - condition.pending_since < debounce:
            return condition
        condition.raised = True
        pending, condition.pending, condition.pending_since = condition.pending, [], None
        condition.pending_count = 0
        if incident is None or incident.state in TERMINAL_STATES:
            incident = self._incident_for(condition, stamp)
        for kept in pending if observation in pending else [*pending, observation]:
            self._keep(incident, condition, kept, severity)
        self._refresh(incident, stamp)
        changed.add(incident.id)
        return condition

    def _on_clear(
        self, condition: _Condition, observation: Observation, changed: set[str]
    ) -> None:
        condition.last_clear_seen = max(condition.last_clear_seen, observation.stamp)
        if not condition.raised:
            self.debounced += condition.pending_count
            condition.pending_since, condition.pending, condition.pending_count = None, [], 0
            return
        incident = self._incidents.get(condition.incident_id or '')
        if incident is not None and incident.state in TERMINAL_STATES:
            incident = None  # dismissed while present: the clear only ends the cause
        if condition.clear_since is None:
            condition.clear_since = observation.stamp
            if incident is not None:
                self._keep(incident, condition, observation, Severity.INFO, force=True)
                changed.add(incident.id)
        elif incident is not None:
            incident.suppressed += 1
            condition.suppressed += 1

    def _incident_for(self, condition: _Condition, stamp: float) -> _Incident:
        """The open incident a newly raised cause joins (merge), or a new incident."""
        condition.kept = 0
        condition.last_kept_severity = None
        if self._settings.merge:
            joinable = [
                incident
                for incident in self._incidents.values()
                if incident.state
                in (IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.PROPOSED)
                and any(c.raised for c in incident.causes.values())
            ]
            if joinable:
                incident = max(joinable, key=lambda i: i.opened)
                incident.causes[condition.key] = condition
                condition.incident_id = incident.id
                return incident
        self._sequence += 1
        opened = datetime.fromtimestamp(stamp, tz=timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
        incident = _Incident(
            id=f'{self._robot_id}/{opened}/{self._sequence:04d}',
            robot_id=self._robot_id,
            dedup_key=f'{condition.kind.name.lower()}:{condition.key}',
            opened=stamp,
            updated=stamp,
        )
        incident.causes[condition.key] = condition
        incident.transitions.append(
            Transition(IncidentState.OPEN, IncidentState.OPEN, stamp, 'perception', 'opened')
        )
        condition.incident_id = incident.id
        self._incidents[incident.id] = incident
        self._forget_closed()
        return incident

    def _keep(
        self,
        incident: _Incident,
        condition: _Condition,
        observation: Observation,
        severity: Severity,
        force: bool = False,
    ) -> None:
        """Keep the observation as evidence, or count it as suppressed (never drop silently).

        Kept: the first ``keep_per_cause`` of each cause, any whose severity differs from the
        last kept one, anything at ``always_keep`` or above, and the first clear after activity.
        Repeats below that are counted in ``suppressed``; the latest one is still shown.
        """
        keep = (
            force
            or condition.kept < self._settings.keep_per_cause
            or severity >= self._settings.always_keep
            or severity != condition.last_kept_severity
        )
        if keep and len(incident.evidence) < self._settings.max_evidence:
            incident.evidence.append(observation)
            condition.kept += 1
            if observation.active:
                condition.last_kept_severity = severity
        else:
            incident.suppressed += 1
            condition.suppressed += 1

    def _refresh(self, incident: _Incident, stamp: float) -> None:
        incident.updated = max(incident.updated, stamp)
        severity = self._severity(incident)
        if not incident.severity_history or incident.severity_history[-1][1] != severity:
            incident.severity_history.append((stamp, severity))

    # ---------------------------------------------------------------- time

    def _evaluate(self, now: float) -> set[str]:
        changed: set[str] = set()
        for condition in self._conditions.values():
            if (
                condition.raised
                and condition.clear_since is not None
                and now - condition.clear_since >= condition.rule.clear_after
            ):
                condition.raised = False
                if condition.incident_id in self._incidents:
                    incident = self._incidents[condition.incident_id]
                    self._refresh(incident, now)
                    changed.add(incident.id)
        for incident in list(self._incidents.values()):
            if self._verify(incident, now):
                changed.add(incident.id)
        self._detach_cleared()
        return changed

    def _verify(self, incident: _Incident, now: float) -> bool:
        """Resolve, fail or leave the incident as its causes and the clock say; True if moved."""
        if incident.state in TERMINAL_STATES or incident.state is IncidentState.FAILED:
            return False
        causes = list(incident.causes.values())
        all_clear = not any(c.raised for c in causes)
        if incident.state is IncidentState.EXECUTING:
            started = incident.execution_started if incident.execution_started is not None else 0
            verified = all_clear and all(c.last_clear_seen >= started for c in causes)
            if verified:
                seen = max(c.last_clear_seen for c in causes)
                self._move(
                    incident,
                    IncidentState.RESOLVED,
                    now,
                    'perception',
                    f'verified: {_keys(causes)} seen cleared at {seen:.3f} after execution '
                    f'started at {started:.3f}',
                )
                return True
            deadline = incident.verify_deadline
            if deadline is not None and now > deadline:
                if self._is_stale(incident, now):
                    return False
                clearing = [c for c in causes if c.raised and c.clear_since is not None]
                if clearing and all(c.clear_since is not None for c in causes if c.raised):
                    # Seen clear, hysteresis still running: the verdict waits for it to end.
                    return False
                still = [c for c in causes if c.raised or c.last_clear_seen < started]
                details = '; '.join(
                    f'{c.key} still active (last seen {c.last_seen:.3f})'
                    if c.raised
                    else f'{c.key}: no clear seen since execution started'
                    for c in still
                )
                self._move(
                    incident,
                    IncidentState.FAILED,
                    now,
                    'perception',
                    f'not verified within {deadline - started:.1f} s of execution start: '
                    f'{details}',
                )
                return True
            return False
        if all_clear and causes and all(c.rule.auto_resolve for c in causes):
            seen = max(c.last_clear_seen for c in causes)
            self._move(
                incident,
                IncidentState.RESOLVED,
                now,
                'perception',
                f'cleared without a plan: {_keys(causes)} seen cleared at {seen:.3f}',
            )
            return True
        return False

    def _detach_cleared(self) -> None:
        for condition in self._conditions.values():
            incident = self._incidents.get(condition.incident_id or '')
            if incident is None or (incident.state in TERMINAL_STATES and not condition.raised):
                condition.incident_id = None

    def _is_stale(self, incident: _Incident, now: float) -> bool:
        if incident.state in TERMINAL_STATES:
            return False
        return now - self._last_data > self._settings.stale_after

    # ---------------------------------------------------------------- lifecycle

    def acknowledge(self, incident_id: str, operator: str, now: float) -> IncidentSnapshot:
        """An operator takes the incident: it becomes theirs (owner, acknowledged_by)."""
        incident = self._get(incident_id)
        _require_actor(incident_id, 'acknowledge', operator)
        self._move(incident, IncidentState.ACKNOWLEDGED, now, operator, 'acknowledged')
        incident.owner = incident.acknowledged_by = operator
        return self._snapshot(incident, now)

    def propose(
        self, incident_id: str, now: float, actor: str = 'reasoner', reason: str = ''
    ) -> IncidentSnapshot:
        """Ranked plans were published for the incident; from ``failed`` this is a retry."""
        incident = self._get(incident_id)
        _require_actor(incident_id, 'propose', actor)
        if (
            incident.state is IncidentState.FAILED
            and incident.attempts >= self._settings.max_attempts
        ):
            raise IllegalTransitionError(
                f'incident {incident_id}: {incident.attempts} plan(s) failed, the most '
                f'max_attempts={self._settings.max_attempts} allows; a person decides now '
                '(dismiss it with a reason, or raise max_attempts)'
            )
        self._move(incident, IncidentState.PROPOSED, now, actor, reason or 'plans proposed')
        return self._snapshot(incident, now)

    def approve(
        self, incident_id: str, actor: str, now: float, reason: str = ''
    ) -> IncidentSnapshot:
        """A plan was approved, by an operator (their id) or by policy (``policy``)."""
        incident = self._get(incident_id)
        _require_actor(incident_id, 'approve', actor)
        self._move(incident, IncidentState.APPROVED, now, actor, reason or 'plan approved')
        return self._snapshot(incident, now)

    def start_execution(
        self, incident_id: str, now: float, actor: str = 'safety_gate'
    ) -> IncidentSnapshot:
        """The approved plan started; from now on only a clear seen after ``now`` resolves it."""
        incident = self._get(incident_id)
        _require_actor(incident_id, 'start execution of', actor)
        self._move(incident, IncidentState.EXECUTING, now, actor, 'plan executing')
        incident.attempts += 1
        incident.execution_started = now
        incident.verify_deadline = now + self._verify_timeout(incident)
        return self._snapshot(incident, now)

    def execution_finished(
        self,
        incident_id: str,
        now: float,
        succeeded: bool,
        reason: str = '',
        actor: str = 'safety_gate',
    ) -> IncidentSnapshot:
        """The plan ended. Failed: the incident fails. Succeeded: verification waits for clears."""
        incident = self._get(incident_id)
        if incident.state is not IncidentState.EXECUTING:
            raise IllegalTransitionError(
                f'incident {incident_id}: execution finished while {incident.state.name.lower()}; '
                'expected executing'
            )
        if not succeeded:
            self._move(
                incident,
                IncidentState.FAILED,
                now,
                actor,
                f'execution failed: {reason or "no reason given"}',
            )
            return self._snapshot(incident, now)
        incident.verify_deadline = now + self._verify_timeout(incident)
        incident.transitions.append(
            Transition(
                IncidentState.EXECUTING,
                IncidentState.EXECUTING,
                now,
                actor,
                f'plan finished{": " + reason if reason else ""}; verifying',
            )
        )
        self._verify(incident, now)
        return self._snapshot(incident, now)

    def dismiss(
        self, incident_id: str, operator: str, reason: str, now: float
    ) -> IncidentSnapshot:
        """An operator closes the incident; a reason is required (it is the record)."""
        incident = self._get(incident_id)
        _require_actor(incident_id, 'dismiss', operator)
        if not reason.strip():
            raise ValueError(f'incident {incident_id}: dismissing needs a reason from {operator}')
        self._move(incident, IncidentState.DISMISSED, now, operator, reason)
        return self._snapshot(incident, now)

    def assign(
        self, incident_id: str, assignee: str, operator: str, now: float
    ) -> IncidentSnapshot:
        """An operator gives an open incident to another (or takes it); the state stays.

        Recorded as a transition from the state to itself, so the record says who gave it to whom.
        """
        incident = self._get(incident_id)
        _require_actor(incident_id, 'assign', operator)
        if not assignee.strip():
            raise ValueError(f'incident {incident_id}: assigning needs the operator to assign to')
        if incident.state in TERMINAL_STATES:
            raise IllegalTransitionError(
                f'incident {incident_id} is {incident.state.name.lower()}: it can no longer be '
                'assigned'
            )
        reason = f'assigned to {assignee}'
        incident.transitions.append(
            Transition(incident.state, incident.state, now, operator, reason)
        )
        incident.owner = assignee
        incident.updated = max(incident.updated, now)
        return self._snapshot(incident, now)

    def _move(
        self, incident: _Incident, target: IncidentState, now: float, actor: str, reason: str
    ) -> None:
        check_transition(incident.id, incident.state, target)
        incident.transitions.append(Transition(incident.state, target, now, actor, reason))
        incident.state = target
        incident.updated = max(incident.updated, now)
        if target in (IncidentState.FAILED, IncidentState.DISMISSED, IncidentState.RESOLVED):
            incident.state_reason = reason
        if target is IncidentState.RESOLVED:
            self._detach_cleared()

    def _verify_timeout(self, incident: _Incident) -> float:
        return max(c.rule.verify_timeout for c in incident.causes.values())

    # ---------------------------------------------------------------- views

    def snapshot(self, incident_id: str, now: float) -> IncidentSnapshot:
        """The incident as it stands at ``now``."""
        return self._snapshot(self._get(incident_id), now)

    def incidents(self, now: float, include_closed: bool = False) -> list[IncidentSnapshot]:
        """All incidents (open ones only, unless ``include_closed``), oldest first."""
        return [
            self._snapshot(incident, now)
            for incident in sorted(self._incidents.values(), key=lambda i: (i.opened, i.id))
            if include_closed or incident.state not in TERMINAL_STATES
        ]

    def _get(self, incident_id: str) -> _Incident:
        try:
            return self._incidents[incident_id]
        except KeyError:
            raise UnknownIncidentError(
                f'no incident {incident_id!r} on {self._robot_id}'
            ) from None

    def _severity(self, incident: _Incident) -> Severity:
        causes = [c for c in incident.causes.values() if c.raised] or list(
            incident.causes.values()
        )
        return max((c.severity for c in causes), default=Severity.INFO)

    def _snapshot(self, incident: _Incident, now: float) -> IncidentSnapshot:
        causes = list(incident.causes.values())
        present = [c for c in causes if c.raised] or causes
        kinds = {c.kind for c in present}
        kind = governing_kind(kinds)
        others = tuple(k for k in SAFETY_PRIORITY if k in kinds and k is not kind)
        governing = [c for c in present if c.kind is kind]
        confidence = max((c.confidence for c in governing), default=0.0)
        summary = f'{kind.name.lower()}: ' + (governing[0].summary if governing else '')
        if len(causes) > 1:
            summary += f' (+{len(causes) - 1} more cause(s))'
        evidence = list(incident.evidence)
        for condition in causes:
            if condition.latest is not None and condition.latest not in evidence:
                evidence.append(condition.latest)
        evidence.sort(key=lambda o: o.stamp)
        return IncidentSnapshot(
            id=incident.id,
            robot_id=incident.robot_id,
            dedup_key=incident.dedup_key,
            kind=kind,
            other_kinds=others,
            severity=self._severity(incident),
            state=incident.state,
            opened=incident.opened,
            updated=incident.updated,
            confidence=confidence,
            summary=summary,
            owner=incident.owner,
            acknowledged_by=incident.acknowledged_by,
            state_reason=incident.state_reason,
            stale=self._is_stale(incident, now),
            last_data=self._last_data if math.isfinite(self._last_data) else 0.0,
            suppressed=incident.suppressed,
            attempts=incident.attempts,
            causes=tuple(
                Cause(
                    c.key,
                    c.kind,
                    c.severity,
                    c.raised,
                    c.first_seen,
                    c.last_seen,
                    c.observations,
                    c.suppressed,
                )
                for c in causes
            ),
            transitions=tuple(incident.transitions),
            evidence=tuple(evidence),
            severity_history=tuple(incident.severity_history),
        )

    def _forget_closed(self) -> None:
        closed = sorted(
            (i for i in self._incidents.values() if i.state in TERMINAL_STATES),
            key=lambda i: i.updated,
        )
        for incident in closed[: max(0, len(closed) - self._settings.max_closed)]:
            del self._incidents[incident.id]


def _keys(causes: Iterable[_Condition]) -> str:
    return ', '.join(c.key for c in causes)


def _require_actor(incident_id: str, action: str, actor: str) -> None:
    if not actor or not actor.strip():
        raise ValueError(
            f'incident {incident_id}: cannot {action} it without an actor (an operator id, '
            '"policy", "reasoner", ...)'
        )


def _kind_attribute(observation: Observation) -> IncidentKind:
    name = observation.attribute('kind', 'unknown').upper()
    return IncidentKind[name] if name in IncidentKind.__members__ else IncidentKind.UNKNOWN


def _severity_attribute(observation: Observation) -> Severity:
    name = observation.attribute('severity', 'warning').upper()
    return Severity[name] if name in Severity.__members__ else Severity.WARNING
