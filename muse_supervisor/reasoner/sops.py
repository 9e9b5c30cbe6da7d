"""The SOP library: standard operating procedures as data, and retrieval over them.

A procedure (``config/sops/*.yaml``) names the incident kinds it is for, the situations it
``describes`` (sentences retrieval matches evidence texts against), when it applies
(``requires``) and when not (``unless``), its steps with parameters to ground in the world
(``$nearest_charger``, ``$obstacle``, ...) and the documents it cites. The reasoner never invents
steps: every plan of the ``sop`` backend is a procedure's steps, grounded, then validated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml  # type: ignore[import-untyped]

from muse_supervisor.domain import SKILLS, IncidentKind, Skill
from muse_supervisor.params import ConfigError

# Conditions a procedure may require or exclude, and the type of their value (reasoner/facts.py
# computes them).
CONDITIONS: dict[str, type] = {
    'person': bool,
    'estop': bool,
    'moving': bool,
    'pose_known': bool,
    'obstacle_known': bool,
    'device_known': bool,
    'charger_known': bool,
    'battery_above': float,
    'battery_below': float,
    'attempts_below': int,
    'recurring_fault': bool,
}
_KEYS = {'id', 'title', 'kinds', 'describes', 'requires', 'unless', 'steps', 'variants',
         'rationale', 'citations'}  # fmt: skip
_SKILL_NAMES = {spec.name: skill for skill, spec in SKILLS.items()}


@dataclass(frozen=True)
class SopStep:
    """A skill and its argument templates (numbers, texts, ``$references``, ``{fields}``)."""

    skill: Skill
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sop:
    """One standard operating procedure."""

    id: str
    title: str
    kinds: tuple[IncidentKind, ...]
    describes: tuple[str, ...]
    steps: tuple[SopStep, ...]
    rationale: str
    citations: tuple[str, ...]
    requires: Mapping[str, Any] = field(default_factory=dict)
    unless: tuple[Mapping[str, Any], ...] = ()
    variants: tuple[Mapping[str, Any], ...] = ()  # 'skill.arg': value overrides, for Thinking
    source: str = ''  # file it came from

    def applies(self, facts: Mapping[str, Any]) -> tuple[bool, str]:
        """Whether the procedure fits ``facts``, and if not the first reason why."""
        for name, wanted in self.requires.items():
            if not _holds(name, wanted, facts):
                return False, f'requires {name}: {wanted}'
        for exclusion in self.unless:
            if all(_holds(name, wanted, facts) for name, wanted in exclusion.items()):
                return False, f'not when {dict(exclusion)}'
        return True, ''


def _holds(name: str, wanted: Any, facts: Mapping[str, Any]) -> bool:
    value = facts.get(name.removesuffix('_above').removesuffix('_below'))
    if name.endswith('_above'):
        return value is not None and bool(value > wanted)
    if name.endswith('_below'):
        return value is not None and bool(value < wanted)
    return bool(value) is bool(wanted)


@dataclass(frozen=True)
class Match:
    """How well one evidence text matches one procedure."""

    sop: Sop
    similarity: float
    text: str


class SopLibrary:
    """The procedures, by kind, with their ``describes`` sentences embedded once."""

    def __init__(self, procedures: Sequence[Sop]) -> None:
        ids = [sop.id for sop in procedures]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ConfigError(f'SOP ids must be unique; repeated: {repeated}')
        self.procedures = tuple(procedures)
        self._sentences = [(sop, text) for sop in procedures for text in sop.describes]
        self._vectors: np.ndarray | None = None

    def for_kind(self, kind: IncidentKind) -> tuple[Sop, ...]:
        """The procedures for ``kind``, in the library's order (the preferred one first)."""
        return tuple(sop for sop in self.procedures if kind in sop.kinds)

    def get(self, sop_id: str) -> Sop | None:
        """The procedure called ``sop_id``."""
        return next((sop for sop in self.procedures if sop.id == sop_id), None)

    def index(self, embed: Any) -> None:
        """Embed every ``describes`` sentence (``embed``: texts -> unit row vectors)."""
        self._vectors = embed([text for _, text in self._sentences])

    def kinds(self) -> tuple[IncidentKind, ...]:
        """Every kind some procedure covers."""
        return tuple(dict.fromkeys(kind for sop in self.procedures for kind in sop.kinds))

    def similarities(self, vectors: np.ndarray) -> list[dict[IncidentKind, Match]]:
        """For each query vector (row), the best-matching sentence of each kind."""
        if self._vectors is None:
            raise RuntimeError('SopLibrary.index() must be called before retrieval')
        scores = vectors @ self._vectors.T
        result: list[dict[IncidentKind, Match]] = []
        for row in scores:
            best: dict[IncidentKind, Match] = {}
            for column in np.argsort(-row):
                sop, text = self._sentences[int(column)]
                for kind in sop.kinds:
                    if kind not in best:
                        best[kind] = Match(sop, float(row[column]), text)
            result.append(best)
        return result


def load_library(folder: Path) -> SopLibrary:
    """Every ``*.yaml`` procedure file in ``folder`` (the glossary excepted), in name order."""
    files = sorted(p for p in folder.glob('*.yaml') if p.name != 'glossary.yaml')
    if not files:
        raise ConfigError(f'{folder}: no SOP files (*.yaml) found')
    procedures: list[Sop] = []
    for path in files:
        procedures.extend(load_procedures(path))
    return SopLibrary(procedures)


def load_procedures(path: Path) -> list[Sop]:
    """The procedures of one file; :class:`ConfigError` names the file, entry and field."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'{path}: cannot read the SOP file ({error})') from error
    if not isinstance(data, Mapping) or data.get('version') != 1:
        raise ConfigError(f'{path}: expected a mapping with "version: 1" and "procedures"')
    entries = data.get('procedures')
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f'{path}: "procedures" must be a non-empty list')
    return [_procedure(entry, f'{path}: procedures[{i}]', path) for i, entry in enumerate(entries)]


def _procedure(entry: Any, where: str, path: Path) -> Sop:
    if not isinstance(entry, Mapping) or not isinstance(entry.get('id'), str):
        raise ConfigError(f'{where}: expected a mapping with an "id" string')
    where = f'{path}: {entry["id"]}'
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ConfigError(f'{where}: unknown key(s) {unknown}; expected {sorted(_KEYS)}')
    kinds = []
    for name in _strings(entry, 'kinds', where, required=True):
        try:
            kinds.append(IncidentKind[name.upper()])
        except KeyError:
            expected = [k.name.lower() for k in IncidentKind]
            raise ConfigError(
                f'{where}: unknown kind {name!r}; expected one of {expected}'
            ) from None
    steps = entry.get('steps')
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f'{where}: "steps" must be a non-empty list')
    sop_steps = tuple(_step(step, f'{where}: steps[{i}]') for i, step in enumerate(steps))
    requires = _conditions(entry.get('requires', {}), f'{where}: requires')
    unless_entries = entry.get('unless', [])
    if not isinstance(unless_entries, list):
        raise ConfigError(f'{where}: "unless" must be a list of condition mappings')
    unless = tuple(_conditions(c, f'{where}: unless[{i}]') for i, c in enumerate(unless_entries))
    variants = entry.get('variants', [])
    if not isinstance(variants, list) or not all(isinstance(v, Mapping) for v in variants):
        raise ConfigError(f'{where}: "variants" must be a list of {{skill.arg: value}} mappings')
    for index, variant in enumerate(variants):
        for key in variant:
            skill, _, arg = str(key).partition('.')
            if not any(s.skill.name.lower() == skill and arg in s.args for s in sop_steps):
                raise ConfigError(
                    f'{where}: variants[{index}]: {key!r} names no step argument of the procedure'
                )
    return Sop(
        id=entry['id'],
        title=str(entry.get('title', entry['id'])),
        kinds=tuple(kinds),
        describes=tuple(_strings(entry, 'describes', where, required=True)),
        steps=sop_steps,
        rationale=str(entry.get('rationale', '')),
        citations=tuple(_strings(entry, 'citations', where, required=False)),
        requires=requires,
        unless=unless,
        variants=tuple(dict(v) for v in variants),
        source=path.name,
    )


def _step(step: Any, where: str) -> SopStep:
    if not isinstance(step, Mapping) or step.get('skill') not in _SKILL_NAMES:
        raise ConfigError(
            f'{where}: expected {{skill: NAME}} with NAME one of {sorted(_SKILL_NAMES)}'
        )
    skill = _SKILL_NAMES[step['skill']]
    args = step.get('args', {}) or {}
    if not isinstance(args, Mapping):
        raise ConfigError(f'{where}: "args" must be a mapping')
    known = {spec.name for spec in SKILLS[skill].arguments}
    unknown = sorted(set(args) - known)
    if unknown:
        raise ConfigError(
            f'{where}: {step["skill"]} has no argument(s) {unknown}; expected {sorted(known)}'
        )
    return SopStep(skill, dict(args))


def _conditions(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f'{where}: expected a mapping of condition to value')
    for name, wanted in value.items():
        expected = CONDITIONS.get(name)
        if expected is None:
            raise ConfigError(
                f'{where}: unknown condition {name!r}; expected {sorted(CONDITIONS)}'
            )
        ok = (
            isinstance(wanted, bool)
            if expected is bool
            else (isinstance(wanted, (int, float)) and not isinstance(wanted, bool))
        )
        if not ok:
            raise ConfigError(f'{where}: {name} expects a {expected.__name__}, got {wanted!r}')
    return dict(value)


def _strings(entry: Mapping[str, Any], key: str, where: str, required: bool) -> list[str]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f'{where}: "{key}" must be a list of non-empty strings')
    if required and not value:
        raise ConfigError(f'{where}: "{key}" must not be empty')
    return value
