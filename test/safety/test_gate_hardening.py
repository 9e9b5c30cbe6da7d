"""The gate's fail-open paths found in review, each closed (ROS-free, on a fake clock).

Each test here failed on the gate before the fix (commit "Gate hardening ..."): the obstacle
reading that lifted the cap, the e-stop forgotten on restart, the status that mixed the input
with the latch, the clock that could stop, the heartbeat refused without a word.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.domain.motion import ZERO, Velocity
from muse_supervisor.safety.config import GateConfig, GateLimits
from muse_supervisor.safety.gate import Cause, GateCore, GateOutput, GateState, range_to_distance

LIMITS = GateLimits()
PERIOD = GateConfig().period
T0 = 100.0
MIN_RANGE, MAX_RANGE = 0.05, 4.0


def causes(out: GateOutput) -> set[Cause]:
    return {stop.cause for stop in out.stops}


def braking_cap(distance: float) -> float:
    room = max(0.0, distance - LIMITS.obstacle_margin)
    return math.sqrt(2.0 * LIMITS.braking_decel * room)


class Clock:
    """A healthy robot around one gate: heartbeat and e-stop released, on a fake clock."""

    def __init__(self, config: GateConfig | None = None, estop: bool | None = False) -> None:
        self.now = T0
        self.gate = GateCore(config or GateConfig(), self.now)
        self.gate.activate(self.now)
        if estop is not None:
            self.gate.estop(estop, self.now)

    def tick(self, dt: float = PERIOD, **commands: tuple[float, float]) -> GateOutput:
        self.now += dt
        self.gate.heartbeat(self.now, self.now)
        for source, (linear, angular) in commands.items():
            self.gate.command(source, (linear, 0.0, 0.0), (0.0, 0.0, angular), self.now)
        return self.gate.update(self.now)

    def cruise(self, speed: float = 0.5, ticks: int = 40) -> GateOutput:
        out = self.tick(nav=(speed, 0.0))
        for _ in range(ticks):
            out = self.tick(nav=(speed, 0.0))
        return out


# ----- 1. obstacle distance fails closed ---------------------------------------------------------
@pytest.mark.parametrize(
    ('reading', 'expected'),
    [
        (1.0, 1.0),
        (MIN_RANGE, MIN_RANGE),
        (MAX_RANGE, MAX_RANGE),
        (-math.inf, MIN_RANGE),  # REP 117: an object closer than min_range
        (math.inf, MAX_RANGE),  # REP 117: nothing within max_range (and no more is known)
        (math.nan, None),
        (0.01, None),  # below min_range, finite: the sensor is not telling the truth
        (9.0, None),
        (-0.5, None),
    ],
)
def test_range_readings_mean_what_rep_117_says(reading: float, expected: float | None) -> None:
    assert range_to_distance(reading, MIN_RANGE, MAX_RANGE) == expected


@pytest.mark.parametrize('limits', [(math.nan, 4.0), (0.5, 0.1), (-1.0, 4.0), (0.0, math.inf)])
def test_a_sensor_with_nonsense_limits_gives_invalid_readings(limits: tuple[float, float]) -> None:
    assert range_to_distance(1.0, *limits) is None


def test_minus_inf_means_an_object_at_min_range_not_a_clear_path() -> None:
    """Fails before the fix: -Inf became NaN, which lifted the cap (0.5 m/s at 0.05 m)."""
    robot = Clock()
    robot.cruise(0.5)
    robot.gate.obstacle_distance(range_to_distance(-math.inf, MIN_RANGE, MAX_RANGE), robot.now)
    out = robot.tick(nav=(0.5, 0.0))
    assert out.command.linear <= braking_cap(MIN_RANGE) == 0.0


@pytest.mark.parametrize('reading', [math.nan, 0.01, 9.0, None])
def test_an_invalid_reading_stops_forward_motion_and_says_so(reading: float | None) -> None:
    robot = Clock()
    robot.cruise(0.4)
    value = None if reading is None else range_to_distance(reading, MIN_RANGE, MAX_RANGE)
    robot.gate.obstacle_distance(value, robot.now)
    out = robot.tick(nav=(0.4, 0.3))
    assert out.command.linear == 0.0 and out.max_linear_speed == 0.0
    assert out.command.angular != 0.0  # turning in place and backing away stay possible
    assert 'invalid' in out.speed_limit_reason
    backing = robot.tick(nav=(-0.2, 0.0))
    assert backing.command.linear < 0.0


def test_a_source_that_goes_stale_caps_forward_motion_to_zero() -> None:
    robot = Clock()
    robot.gate.obstacle_distance(3.0, robot.now)
    assert robot.cruise(0.4, ticks=5).command.linear > 0.0  # heard, fresh, far: moving
    for _ in range(int(LIMITS.obstacle_timeout / PERIOD) + 2):
        out = robot.tick(nav=(0.4, 0.0))
    assert out.command.linear == 0.0 and 'stale' in out.speed_limit_reason


def test_no_obstacle_source_means_no_cap_and_a_required_one_caps_until_heard() -> None:
    assert Clock().cruise(0.5).command == Velocity(0.5, 0.0)
    config = GateConfig(limits=GateLimits(obstacle_distance_required=True))
    robot = Clock(config)
    assert robot.cruise(0.5, ticks=10).command.linear == 0.0
    assert 'never heard' in robot.gate.update(robot.now).speed_limit_reason
    robot.gate.obstacle_distance(4.0, robot.now)
    assert robot.cruise(0.5, ticks=5).command.linear > 0.0  # within obstacle_timeout of it


_READING = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([-math.inf, math.inf, math.nan, MIN_RANGE, MAX_RANGE, 0.3, 0.31]),
)


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.0, 0.4),  # time until the next reading (past obstacle_timeout: stale)
            st.one_of(st.none(), _READING),  # None: no reading this time
            st.floats(-0.5, 0.5),  # commanded forward speed
        ),
        min_size=1,
        max_size=40,
    )
)
def test_forward_speed_never_exceeds_what_the_last_valid_reading_allows(stream: Any) -> None:
    """Property: every reading (finite, ±Inf, NaN, stale) keeps speed within the last valid one."""
    robot = Clock()
    robot.cruise(0.5, ticks=20)
    last_valid: float | None = None  # distance of the last valid reading, and when it came
    last_stamp = -math.inf
    for dt, reading, speed in stream:
        robot.now += dt
        if reading is not None:
            distance = range_to_distance(reading, MIN_RANGE, MAX_RANGE)
            robot.gate.obstacle_distance(distance, robot.now)
            last_valid, last_stamp = distance, robot.now  # None: invalid, allows nothing
        out = robot.tick(0.0, nav=(speed, 0.0))
        if reading is None and last_stamp == -math.inf:
            continue  # no obstacle source heard yet: no cap
        fresh = robot.now - last_stamp <= LIMITS.obstacle_timeout
        allowed = braking_cap(last_valid) if fresh and last_valid is not None else 0.0
        assert out.command.linear <= allowed + 1e-9, (out, last_valid, fresh)


# ----- 3. an e-stop not heard since start counts as engaged --------------------------------------
def test_an_estop_not_heard_since_start_holds_the_robot_until_heard() -> None:
    """Fails before the fix: a restarted gate forwarded motion with the e-stop never heard."""
    robot = Clock(estop=None)
    out = robot.cruise(0.3, ticks=10)
    assert out.command == ZERO and Cause.ESTOP in causes(out)
    assert out.estop_engaged and not out.reset_required
    assert 'not heard' in next(s.detail for s in out.stops if s.cause is Cause.ESTOP)
    robot.gate.estop(False, robot.now)  # released: nothing to reset, motion may start
    assert robot.cruise(0.3).command == Velocity(0.3, 0.0)


def test_a_restarted_gate_that_hears_an_engaged_estop_latches() -> None:
    robot = Clock(estop=None)
    robot.gate.estop(True, robot.now)  # the latched value, delivered on subscription
    out = robot.cruise(0.3, ticks=5)
    assert out.command == ZERO and out.state is GateState.LATCHED and out.reset_required


def test_without_estop_required_an_unheard_estop_does_not_hold() -> None:
    robot = Clock(GateConfig(limits=GateLimits(estop_required=False)), estop=None)
    assert robot.cruise(0.3).command == Velocity(0.3, 0.0)


def test_a_required_person_signal_not_heard_counts_as_a_person() -> None:
    robot = Clock(GateConfig(limits=GateLimits(person_signal_required=True)))
    out = robot.cruise(0.3, ticks=5)
    assert out.command == ZERO and Cause.PERSON_IN_ZONE in causes(out) and out.person_in_zone
    robot.gate.person_in_zone(False, robot.now)
    assert robot.cruise(0.3).command == Velocity(0.3, 0.0)


def test_a_clock_reset_forgets_the_estop_too() -> None:
    robot = Clock()
    robot.cruise(0.3)
    robot.now -= 10.0  # the sim clock went back: every input is stale, the e-stop unheard
    out = robot.tick(nav=(0.3, 0.0))
    assert out.command == ZERO and Cause.ESTOP in causes(out)


# ----- 6. a gate clock that stops is a stop cause ------------------------------------------------
def test_a_stopped_gate_clock_stops_the_robot_and_a_moving_one_releases_it() -> None:
    robot = Clock()
    steady = 0.0
    out = robot.cruise(0.3)
    for _ in range(5):  # clock advancing in step with steady time: fine
        steady += PERIOD
        robot.gate.clock(steady, robot.now + steady)
    frozen = robot.now
    robot.gate.clock(steady, frozen)
    for _ in range(int(LIMITS.clock_timeout / (PERIOD / 2)) + 2):  # /clock stopped
        steady += PERIOD / 2
        robot.gate.clock(steady, frozen)
    out = robot.gate.update(frozen)
    assert out.command == ZERO and causes(out) == {Cause.CLOCK_STALE}
    robot.gate.clock(steady + PERIOD, frozen + PERIOD)  # /clock is back
    robot.now = frozen
    assert Cause.CLOCK_STALE not in causes(robot.tick(nav=(0.3, 0.0)))


# ----- 9. status tells the input and the latch apart; refusals say why ---------------------------
def test_status_reports_the_estop_input_now_and_the_latch_separately() -> None:
    """Fails before the fix: estop_engaged stayed true after release, until a reset."""
    robot = Clock()
    robot.cruise(0.3)
    robot.gate.estop(True, robot.now)
    engaged = robot.tick(nav=(0.3, 0.0))
    assert engaged.estop_engaged and engaged.reset_required
    assert [s.present for s in engaged.stops] == [True]
    robot.gate.estop(False, robot.now)
    released = robot.tick(nav=(0.3, 0.0))
    assert not released.estop_engaged  # the input, now
    assert released.reset_required and released.state is GateState.LATCHED
    assert [(s.cause, s.latched, s.present) for s in released.stops] == [
        (Cause.ESTOP, True, False)
    ]


def test_no_source_is_reported_active_while_stopped() -> None:
    """Fails before the fix: active_source named the source the gate was not forwarding."""
    robot = Clock()
    assert robot.cruise(0.3).active_source == 'nav'
    robot.gate.person_in_zone(True, robot.now)
    assert robot.tick(nav=(0.3, 0.0)).active_source == ''


@pytest.mark.parametrize(
    ('stamp', 'words'),
    [(None, 'zero'), (0.0, 'zero'), (T0 + 5.0, 'ahead'), (T0 - 5.0, 'old'), (math.nan, 'zero')],
)
def test_a_refused_heartbeat_says_why(stamp: float | None, words: str) -> None:
    gate = GateCore(GateConfig(), T0)
    assert words in gate.heartbeat(stamp, T0)
    assert gate.heartbeat(T0, T0) == ''


def test_changes_between_ticks_are_noticed() -> None:
    robot = Clock()
    robot.cruise(0.3)
    assert not robot.gate.changed_since_update(robot.now)
    robot.gate.estop(True, robot.now)
    assert robot.gate.changed_since_update(robot.now)
    robot.gate.update(robot.now)
    assert not robot.gate.changed_since_update(robot.now)
