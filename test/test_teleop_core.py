"""The teleop's keys, steps and limits, without ROS."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from muse_supervisor.teleop.core import (
    Drive,
    Key,
    Limits,
    Steps,
    TeleopError,
    Velocity,
    parse_keys,
    status_line,
    step,
)

LIMITS = Limits(0.5, 1.0)


def test_letters_and_arrow_keys_map_to_the_same_presses() -> None:
    assert parse_keys('wWx\x1b[A\x1b[B') == [Key.FASTER] * 2 + [Key.SLOWER, Key.FASTER, Key.SLOWER]
    assert parse_keys('ad\x1b[D\x1b[C') == [Key.LEFT, Key.RIGHT, Key.LEFT, Key.RIGHT]
    assert parse_keys(' sq\x03') == [Key.STOP, Key.STOP, Key.QUIT, Key.QUIT]
    assert parse_keys('zy1\x1b[Z') == []  # unknown keys do nothing


def test_presses_step_the_command_and_stop_zeroes_it() -> None:
    velocity = Velocity()
    for key in (Key.FASTER, Key.FASTER, Key.LEFT):
        velocity = step(velocity, key, Steps(0.05, 0.2), LIMITS)
    assert velocity == Velocity(0.1, 0.2)
    assert step(velocity, Key.RIGHT, Steps(0.05, 0.2), LIMITS) == Velocity(0.1, 0.0)
    assert step(velocity, Key.STOP, Steps(), LIMITS) == Velocity()
    assert step(Velocity(), Key.SLOWER, Steps(0.05, 0.2), LIMITS) == Velocity(-0.05, 0.0)


@given(st.lists(st.sampled_from(list(Key)), max_size=200))
def test_no_sequence_of_presses_leaves_the_limits(keys: list[Key]) -> None:
    velocity = Velocity()
    for key in keys:
        velocity = step(velocity, key, Steps(0.15, 0.35), LIMITS)
        assert abs(velocity.linear) <= LIMITS.linear and abs(velocity.angular) <= LIMITS.angular


def test_a_scripted_command_beyond_the_limits_is_refused_not_clamped() -> None:
    assert LIMITS.check(Velocity(0.2, -0.5)) == Velocity(0.2, -0.5)
    with pytest.raises(TeleopError, match=r'--linear 0\.7 is outside -0\.5\.\.0\.5 m/s'):
        LIMITS.check(Velocity(0.7, 0.0))
    with pytest.raises(TeleopError, match='--angular nan'):
        LIMITS.check(Velocity(0.0, math.nan))


def test_the_gates_limits_in_force_narrow_the_teleops() -> None:
    assert LIMITS.narrowed(0.3, 2.0) == Limits(0.3, 1.0)
    assert LIMITS.narrowed(0.0, math.nan) == LIMITS  # unknown or zero: keep our own
    assert LIMITS.narrowed(0.3, 2.0).clamp(Velocity(0.5, -1.0)) == Velocity(0.3, -1.0)


@pytest.mark.parametrize('bad', [0.0, -1.0, math.inf, math.nan])
def test_limits_and_durations_must_be_positive(bad: float) -> None:
    with pytest.raises(TeleopError):
        Limits(bad, 1.0)
    with pytest.raises(TeleopError, match='--duration'):
        Drive(0.0, bad)


def test_a_drive_ends_after_its_duration_or_never() -> None:
    assert not Drive(10.0, 3.0).over(12.9) and Drive(10.0, 3.0).over(13.0)
    assert not Drive(10.0).over(1e9)


def test_status_line_says_why_the_robot_does_not_move() -> None:
    assert (
        status_line('idle', '', ['heartbeat stale']) == 'gate: idle, stopped by: heartbeat stale'
    )
    assert status_line('forwarding', 'teleop', []) == 'gate: forwarding, forwarding teleop'
