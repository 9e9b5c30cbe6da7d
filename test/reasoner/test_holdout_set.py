"""The reasoner's held-out scenario set: well-formed, covering, and reproducible.

The set lives in scenarios/holdout and is made by tools/make_holdout_scenarios.py, written
without looking at the public set or the reasoner (scenarios/holdout/README.md). These checks hold
its files to the format the loader reads and its answers to the vocabulary and the conventions.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from muse_supervisor.domain.vocabulary import IncidentKind, Skill
from muse_supervisor.perception.scenario import Scenario, load_scenario
from muse_supervisor.sim.world import load_world

REPO = Path(__file__).resolve().parents[2]
HOLDOUT = REPO / 'scenarios' / 'holdout'
FILES = sorted(HOLDOUT.glob('*/scenario.yaml'))
KINDS = {kind.name.lower() for kind in IncidentKind}
SKILLS = {skill.name.lower() for skill in Skill}
TIER_C = {'reset_fault', 'resume_mission'}
MOTION = {'reverse', 'rotate', 'relocalize', 'navigate_to', 'reroute', 'dock', 'retry_step'}
EXPECTED_KEYS = {'kind', 'first_step_in', 'forbidden', 'injection', 'language', 'note'}
LANGUAGES = {'fr', 'de', 'es', 'it', 'nl'}


@pytest.fixture(scope='module')
def scenarios() -> list[Scenario]:
    return [load_scenario(path) for path in FILES]


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        'make_holdout_scenarios', REPO / 'tools' / 'make_holdout_scenarios.py'
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
    assert len(scenarios) >= 25
    assert [s.name for s in scenarios] == [path.parent.name for path in FILES]
    assert all(s.expected for s in scenarios), 'every held-out scenario has an expected answer'


def test_every_incident_kind_is_an_expected_kind_at_least_twice(
    scenarios: list[Scenario],
) -> None:
    counts = Counter(s.expected['kind'] for s in scenarios)
    missing = sorted(KINDS - set(counts))
    assert not missing, f'no held-out scenario expects {missing}'
    assert all(counts[kind] >= 2 for kind in KINDS), counts


@pytest.mark.parametrize('path', FILES, ids=[path.parent.name for path in FILES])
def test_the_expected_answer_is_valid(path: Path) -> None:
    scenario = load_scenario(path)
    expected = scenario.expected
    assert set(expected) <= EXPECTED_KEYS, sorted(set(expected) - EXPECTED_KEYS)
    assert expected['kind'] in KINDS
    first, forbidden = expected['first_step_in'], expected['forbidden']
    assert isinstance(first, list) and first and set(first) <= SKILLS, first
    assert isinstance(forbidden, list) and set(forbidden) <= SKILLS, forbidden
    assert len(set(first)) == len(first) and len(set(forbidden)) == len(forbidden)
    assert not set(first) & set(forbidden), 'a first step cannot also be forbidden'
    assert set(forbidden) >= TIER_C, 'tier C skills are always forbidden'
    if 'stop' in first:
        assert 'request_operator' in first, 'where stop is acceptable, so is request_operator'
    if expected['kind'] in ('person_in_zone', 'estop_active'):
        assert set(forbidden) >= MOTION, 'nothing moves with a person in the zone or an e-stop'
    assert expected.get('injection', False) in (True, False)
    assert expected.get('language', 'fr') in LANGUAGES
    assert isinstance(expected.get('note'), str) and expected['note'].strip()


def test_injections_languages_and_images_are_covered(scenarios: list[Scenario]) -> None:
    assert sum(s.expected.get('injection') is True for s in scenarios) >= 4
    languages = Counter(s.expected['language'] for s in scenarios if 'language' in s.expected)
    assert sum(languages.values()) >= 6, languages
    assert languages['fr'] >= 1 and languages['de'] >= 1, languages
    assert languages['es'] + languages['it'] + languages['nl'] >= 1, languages
    with_images = [s for s in scenarios if s.images]
    assert len(with_images) >= 6
    assert all(len(s.images) == 2 for s in with_images), 'two frames a second apart'


def test_images_are_two_different_noisy_frames_and_small(scenarios: list[Scenario]) -> None:
    import cv2
    import numpy as np

    for scenario in (s for s in scenarios if s.images):
        first, second = (cv2.imread(str(image), cv2.IMREAD_COLOR) for image in scenario.images)
        assert first is not None and second is not None, scenario.name
        assert first.shape == second.shape and first.shape[:2] in ((240, 320), (480, 640))
        assert np.any(first != second), f'{scenario.name}: a repeated frame reads as frozen'
    total = sum(path.stat().st_size for path in HOLDOUT.rglob('*') if path.is_file())
    assert total < 4_000_000, total


def test_every_robot_stands_in_free_space(scenarios: list[Scenario]) -> None:
    world = load_world(REPO / 'config' / 'maps' / 'warehouse_world.yaml')
    for scenario in scenarios:
        assert scenario.pose is not None, scenario.name
        assert world.map.free(scenario.pose[0], scenario.pose[1]), scenario.name


def test_regeneration_gives_the_same_files(tmp_path: Path) -> None:
    written = _generator().write(tmp_path)
    assert sorted(path.parent.name for path in written) == [path.parent.name for path in FILES]
    for path in FILES:
        again = tmp_path / path.parent.name / 'scenario.yaml'
        assert again.read_bytes() == path.read_bytes(), f'{path.parent.name} differs'
        assert sorted(p.name for p in again.parent.iterdir()) == sorted(
            p.name for p in path.parent.iterdir()
        )
