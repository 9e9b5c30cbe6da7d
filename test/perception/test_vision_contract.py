"""The contract every vision analyzer keeps (muse_supervisor/perception/vision/analyzer.py)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.perception.vision import (
    SIGNALS,
    UNTRUSTED_SIGNALS,
    Analyzer,
    Frame,
    default_analyzers,
    synthetic,
)
from muse_supervisor.perception.vision.analyzer import format_attribute, margin_confidence

ANALYZERS = default_analyzers()
FRAMES = [
    Frame(synthetic.qr_code_scene('TAG-1'), 100.25, 'front_optical', 'front/image', 1),
    Frame(synthetic.standing_figure(), 100.5, 'front_optical', 'front/image', 2),
    Frame(synthetic.text_panel('MOTOR 2 OVERCURRENT'), 100.75, 'front_optical', 'front/image', 3),
]


@pytest.fixture(scope='module')
def results() -> dict[str, list[tuple[Frame, list[Observation]]]]:
    return {a.name: [(f, a.analyze(f)) for f in FRAMES] for a in ANALYZERS}


def test_every_default_analyzer_is_an_analyzer_with_a_versioned_name_and_a_rate() -> None:
    names = [analyzer.name for analyzer in ANALYZERS]
    assert len(set(names)) == len(ANALYZERS) == 5
    for analyzer in ANALYZERS:
        assert isinstance(analyzer, Analyzer)
        assert re.fullmatch(r'[a-z_]+:[a-z]+(-[a-z]+)*-\d+\.\d+', analyzer.name), analyzer.name
        assert 0 < analyzer.default_rate_hz <= 30


def test_observations_carry_the_frame_provenance_not_processing_time(
    results: dict[str, list[tuple[Frame, list[Observation]]]],
) -> None:
    for name, runs in results.items():
        for frame, observations in runs:
            assert observations, f'{name} said nothing about frame {frame.sequence}'
            for observation in observations:
                assert observation.stamp == frame.stamp
                assert observation.source is EvidenceSource.CAMERA
                assert (observation.topic, observation.frame_id) == (frame.topic, frame.frame_id)
                assert observation.producer == name
                assert observation.signal in SIGNALS, observation.signal
                assert 0.0 <= observation.confidence <= 1.0
                assert observation.summary


def test_text_and_codes_read_from_the_world_are_never_trusted(
    results: dict[str, list[tuple[Frame, list[Observation]]]],
) -> None:
    seen = set()
    for runs in results.values():
        for _, observations in runs:
            for observation in observations:
                if observation.signal in UNTRUSTED_SIGNALS:
                    seen.add((observation.signal, observation.active))
                    assert observation.trusted is False, observation
                else:
                    assert observation.trusted is True, observation
    # The frames show a QR code and a panel: both an untrusted reading and a clear were checked.
    assert {('ocr.text', True), ('marker.qr', True), ('marker.qr', False)} <= seen


def test_each_signal_is_either_seen_or_cleared_once_per_frame(
    results: dict[str, list[tuple[Frame, list[Observation]]]],
) -> None:
    for name, runs in results.items():
        for frame, observations in runs:
            by_signal: dict[str, list[bool]] = defaultdict(list)
            for observation in observations:
                by_signal[observation.signal].append(observation.active)
            for signal, verdicts in by_signal.items():
                assert all(verdicts) or verdicts == [False], (name, frame.sequence, signal)


def test_attribute_formatting_and_confidence_margin() -> None:
    assert format_attribute(True) == 'true'
    assert format_attribute(3) == '3'
    assert format_attribute(0.123456) == '0.1235'
    assert format_attribute(2.0) == '2'
    assert format_attribute([[1.0, 2.5], [3.0, 4.0]]) == '1,2.5 3,4'
    assert margin_confidence(0.85, 0.85, 0.15) == 0.5
    assert margin_confidence(1.0, 0.85, 0.15) == 1.0
    assert margin_confidence(0.0, 0.85, 0.85) == 1.0
    assert 0.5 < margin_confidence(0.9, 0.85, 0.15) < 1.0
