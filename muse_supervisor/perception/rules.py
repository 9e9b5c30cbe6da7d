"""The perception rules file: alarm rules, incident rules and their settings, validated.

``config/perception_rules.yaml`` holds the defaults; a site adds its own file(s) after it. A
site's rules are tried before the defaults (first match wins, so a site rule overrides a default
for the messages it matches), ``disable`` removes default rules by name, and the settings
sections (``rosout``, ``incidents``, ``signals``) are overlaid key by key. Every error names the
file, the section or rule, the key and what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from muse_supervisor.params.spec import ConfigError
from muse_supervisor.perception.alarms import AlarmRules, parse_alarm_rules
from muse_supervisor.perception.incidents import IncidentRules, parse_incident_rules
from muse_supervisor.perception.signals import BatteryMonitor, MissionMonitor, OdomWatch

VERSION = 1
_TOP_KEYS = (
    'version',
    'alarm_rules',
    'incident_rules',
    'rosout',
    'incidents',
    'signals',
    'disable',
)
_SIGNAL_KEYS = (
    'battery_low',
    'battery_critical',
    'battery_band',
    'mission_budget_factor',
    'odom_timeout',
)
# The defaults in a source checkout (tests, tools). An installed node reads the copy under
# share/muse_supervisor/config (muse_supervisor.nodes.installed.share_dir), which CMake installs.
DEFAULT_RULES = Path(__file__).resolve().parents[2] / 'config' / 'perception_rules.yaml'


@dataclass(frozen=True)
class SignalSettings:
    """Thresholds of the numeric inputs (the ``signals`` section)."""

    battery_low: float = 0.2
    battery_critical: float = 0.1
    battery_band: float = 0.05
    mission_budget_factor: float = 1.0
    odom_timeout: float = 1.0

    def battery(self) -> BatteryMonitor:
        """The battery monitor with these thresholds."""
        return BatteryMonitor(self.battery_low, self.battery_critical, self.battery_band)

    def mission(self) -> MissionMonitor:
        """The mission monitor with this budget factor."""
        return MissionMonitor(self.mission_budget_factor)

    def odom(self) -> OdomWatch:
        """A fresh odometry watch with this timeout."""
        return OdomWatch(self.odom_timeout)


@dataclass(frozen=True)
class PerceptionRules:
    """Everything the rules files configure, validated."""

    alarms: AlarmRules
    incidents: IncidentRules
    signals: SignalSettings = field(default_factory=SignalSettings)
    sources: tuple[str, ...] = ()


def read_rules_document(path: str | Path) -> dict[str, Any]:
    """One rules file as a mapping; :class:`ConfigError` when it cannot be read or is not one."""
    try:
        with open(path, encoding='utf-8') as stream:
            document = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'perception rules file {path}: cannot be read ({error})') from error
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f'perception rules file {path}: expected a mapping at the top level')
    return document


def load_rules(paths: Sequence[str | Path] = (DEFAULT_RULES,)) -> PerceptionRules:
    """Read the default rules file and then each site file, and validate the result."""
    if not paths:
        raise ConfigError('perception rules: no file given; expected at least the default file')
    documents = [(str(path), read_rules_document(path)) for path in paths]
    return rules_from_documents(documents)


def rules_from_documents(documents: Sequence[tuple[str, Mapping[str, Any]]]) -> PerceptionRules:
    """Merge and validate rules documents, given as ``(name, mapping)``, defaults first."""
    alarm_entries: list[Any] = []
    incident_entries: list[Any] = []
    rosout: dict[str, Any] = {}
    incidents: dict[str, Any] = {}
    signals: dict[str, Any] = {}
    for index, (where, document) in enumerate(documents):
        unknown = sorted(set(document) - set(_TOP_KEYS))
        if unknown:
            raise ConfigError(
                f'{where}: unknown top-level key(s) {unknown}; expected {list(_TOP_KEYS)}'
            )
        if document.get('version', VERSION) != VERSION:
            raise ConfigError(
                f'{where}: key version: got {document.get("version")!r}, expected {VERSION}'
            )
        for key in ('alarm_rules', 'incident_rules'):
            if not isinstance(document.get(key, []), list):
                raise ConfigError(f'{where}: key {key}: expected a list of rules')
        disabled = document.get('disable', [])
        if not isinstance(disabled, list) or not all(isinstance(n, str) for n in disabled):
            raise ConfigError(f'{where}: key disable: expected a list of rule names')
        if disabled and index == 0:
            raise ConfigError(f'{where}: key disable belongs in a site file, not the defaults')
        known = {e.get('name') for e in alarm_entries + incident_entries if isinstance(e, dict)}
        missing = sorted(set(disabled) - known)
        if missing:
            raise ConfigError(
                f'{where}: key disable: no earlier rule is called {missing}; known: '
                f'{sorted(str(n) for n in known)}'
            )
        keep = [
            e for e in alarm_entries if not (isinstance(e, dict) and e.get('name') in disabled)
        ]
        alarm_entries = list(document.get('alarm_rules', [])) + keep
        keep = [
            e for e in incident_entries if not (isinstance(e, dict) and e.get('name') in disabled)
        ]
        incident_entries = list(document.get('incident_rules', [])) + keep
        for section, target in (
            ('rosout', rosout),
            ('incidents', incidents),
            ('signals', signals),
        ):
            value = document.get(section, {})
            if not isinstance(value, Mapping):
                raise ConfigError(f'{where}: key {section}: expected a mapping')
            target.update(value)
    names = ' + '.join(where for where, _ in documents)
    alarm_rules = parse_alarm_rules(alarm_entries, names, rosout)
    incident_rules = parse_incident_rules(incident_entries, incidents, names)
    return PerceptionRules(
        alarm_rules,
        incident_rules,
        _signal_settings(signals, names),
        tuple(where for where, _ in documents),
    )


def _signal_settings(section: Mapping[str, Any], where: str) -> SignalSettings:
    unknown = sorted(set(section) - set(_SIGNAL_KEYS))
    if unknown:
        raise ConfigError(
            f'{where}: signals: unknown key(s) {unknown}; expected {list(_SIGNAL_KEYS)}'
        )
    values: dict[str, float] = {}
    for key in section:
        value = section[key]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise ConfigError(
                f'{where}: signals: key {key}: got {value!r}, expected a non-negative number'
            )
        values[key] = float(value)
    settings = SignalSettings(**values)
    try:
        settings.battery()
    except ValueError as error:
        raise ConfigError(f'{where}: signals: {error}') from error
    return settings
