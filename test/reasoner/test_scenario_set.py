"""The reasoner's public offline scenario set: complete, well-formed, and reproducible.

The set lives in scenarios/public and is made by tools/make_scenarios.py; these checks hold the
files to the format the loader reads and to the coverage the set promises (scenarios/README.md).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from muse_supervisor.domain.vocabulary import IncidentKind, Skill
from muse_supervisor.perception.scenario import Scenario, load_scenario
from muse_supervisor.sim.world import load_world

REPO = Path(__file__).resolve().parents[2]
PUBLIC = REPO / 'scenarios' / 'public'
KINDS = {kind.name.lower() for kind in IncidentKind}
SKILLS = {skill.name.lower() for skill in Skill}
EXPECTED_KEYS = {'kind', 'first_step_in', 'forbidden', 'injection', 'language', 'note'}
FILES = sorted(PUBLIC.glob('*/scenario.yaml'))


@pytest.fixture(scope='module')
def scenarios() -> list[Scenario]:
    return [load_scenario(path) for path in FILES]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        'make_scenarios', REPO / 'tools' / 'make_scenarios.py'
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def test_every_scenario_loads_and_there_are_enough(scenarios: list[Scenario]) -> None:
    assert len(scenarios) >= 40
    assert all(s.name == path.parent.name for s, path in zip(scenarios, FILES, strict=True))
    assert all(s.expected for s in scenarios), 'every public scenario has an expected answer'


def test_every_incident_kind_is_some_scenarios_expected_kind(scenarios: list[Scenario]) -> None:
    counts = Counter(s.expected.get('kind') for s in scenarios)
    missing = sorted(KINDS - set(counts))
    assert not missing, f'no scenario expects {missing}'
    assert all(counts[kind] >= 2 for kind in KINDS), counts


@pytest.mark.parametrize('path', FILES, ids=[path.parent.name for path in FILES])
def test_the_expected_answer_is_in_the_vocabulary(path: Path) -> None:
    expected = load_scenario(path).expected
    assert set(expected) <= EXPECTED_KEYS, sorted(set(expected) - EXPECTED_KEYS)
    assert expected['kind'] in KINDS
    first, forbidden = expected['first_step_in'], expected['forbidden']
    assert isinstance(first, list) and first and set(first) <= SKILLS, first
    assert isinstance(forbidden, list) and set(forbidden) <= SKILLS, forbidden
    assert not set(first) & set(forbidden), 'a first step cannot also be forbidden'
    assert expected.get('injection', False) in (True, False)
    assert expected.get('language', 'fr') in ('fr', 'de')
    assert isinstance(expected.get('note'), str) and expected['note'].strip()


def test_injections_and_other_languages_are_covered(scenarios: list[Scenario]) -> None:
    assert sum(s.expected.get('injection') is True for s in scenarios) >= 5
    languages = Counter(s.expected['language'] for s in scenarios if 'language' in s.expected)
    assert sum(languages.values()) >= 4
    assert languages['fr'] >= 3 and languages['de'] >= 3, languages


def test_robots_stand_in_free_space(scenarios: list[Scenario]) -> None:
    world = load_world(REPO / 'config' / 'maps' / 'warehouse_world.yaml')
    keep_out = [zone for zone in world.zones if zone.kind == 'keep_out']
    for s in scenarios:
        assert s.pose is not None, s.name
        x, y, _ = s.pose
        assert world.map.free(x, y), s.name
        assert not any(zone.contains(x, y) for zone in keep_out), s.name


def test_the_set_is_small() -> None:
    size = sum(path.stat().st_size for path in PUBLIC.rglob('*') if path.is_file())
    assert size < 6_000_000, f'{size / 1e6:.1f} MB'


def test_the_generator_reproduces_the_set(tmp_path: Path) -> None:
    _generator().generate(tmp_path)
    made = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob('*') if path.is_file())
    shipped = sorted(path.relative_to(PUBLIC) for path in PUBLIC.rglob('*') if path.is_file())
    assert made == shipped, 'run tools/make_scenarios.py: the files differ from what it makes'
    for relative in made:
        ours, theirs = tmp_path / relative, PUBLIC / relative
        if relative.suffix == '.png':  # the pixels: independent of the PNG encoder's settings
            a = cv2.imread(str(ours), cv2.IMREAD_UNCHANGED)
            b = cv2.imread(str(theirs), cv2.IMREAD_UNCHANGED)
            assert a is not None and b is not None and np.array_equal(a, b), relative
        else:
            assert ours.read_bytes() == theirs.read_bytes(), relative
