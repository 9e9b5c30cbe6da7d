"""The safety gate's rules (GateCore): what reaches the actuators, and why not.

ROS-free and clock-free: every call gets an explicit fake ``now``, so nothing here depends on how
fast the machine is. Times start well past zero because a heartbeat stamped zero counts as
missing.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from muse_supervisor.domain.motion import ZERO, Pose2D, Velocity
from muse_supervisor.params import ConfigError
from muse_supervisor.safety.config import (
    CommandSource,
    GateConfig,
    GateLimits,
    KeepOutZone,
    Waypoint,
    gate_config_from_parameters,
)
from muse_supervisor.safety.gate import Cause, GateCore, GateOutput, GateState

LIMITS = GateLimits()
MAX_LINEAR = LIMITS.max_linear_speed  # 0.5 m/s
MAX_ANGULAR = LIMITS.max_angular_speed  # 1.0 rad/s
PERIOD = GateConfig().period  # 0.05 s at 20 Hz
T0 = 100.0
EPS = 1e-9
# The gate's documented tolerance for a clock going back (thread jitter); more is a reset.
BACKWARD_JUMP = 0.05


def causes(out: GateOutput) -> set[Cause]:
    return {stop.cause for stop in out.stops}


@dataclass
class Rig:
    """A gate on a fake clock ticking at the gate's rate, with a healthy supervisor heartbeat.

    Tests break one input at a time: stop the heartbeat, stop commanding, engage the e-stop...
    """

    config: GateConfig = field(default_factory=GateConfig)
    activate: bool = True
    heartbeat: bool = True
    odometry: Pose2D | None = None
    k: int = 0
    gate: GateCore = field(init=False)
    out: GateOutput = field(init=False)

    def __post_init__(self) -> None:
        self.gate = GateCore(self.config, self.t)
        if self.activate:
            self.gate.activate(self.t)
        self.gate.estop(False, self.t)  # a healthy robot: its e-stop input says released

    @property
    def t(self) -> float:
        return T0 + self.k * self.config.period

    def tick(self, **commands: tuple[float, float]) -> GateOutput:
        """Advance one period, feed the inputs, command ``source=(linear, angular)``, update."""
        self.k += 1
        now = self.t
        if self.heartbeat:
            assert self.gate.heartbeat(now, now) == ''
        if self.odometry is not None:
            self.gate.odometry(self.odometry, now)
        for source, (linear, angular) in commands.items():
            assert self.gate.command(source, (linear, 0.0, 0.0), (0.0, 0.0, angular), now) == ''
        self.out = self.gate.update(now)
        return self.out

    def run(self, ticks: int, **commands: tuple[float, float]) -> list[GateOutput]:
        return [self.tick(**commands) for _ in range(ticks)]


def cruising(speed: float = 0.3, turn: float = 0.2, **rig: Any) -> Rig:
    """A rig whose nav source has been commanding (speed, turn) long enough to reach it."""
    state = Rig(**rig)
    state.run(40, nav=(speed, turn))
    assert state.out.command == Velocity(speed, turn)
    assert not state.out.stops
    return state


# ----- property: whatever the inputs, 0 bad values out -------------------------------------------
def _speeds(limit: float) -> st.SearchStrategy[float]:
    special = [
        math.nan,
        math.inf,
        -math.inf,
        1e308,
        -1e308,
        5e-324,
        limit,
        -limit,
        math.nextafter(limit, math.inf),
        -math.nextafter(limit, math.inf),
        limit * 1.000001,
        -limit * 1.5,
        0.0,
        -0.0,
    ]
    return st.one_of(
        st.floats(-limit, limit),
        st.floats(-limit, limit),
        st.sampled_from(special),
        st.floats(allow_nan=True, allow_infinity=True),
    )


_COMMAND = st.tuples(
    st.just('command'),
    st.sampled_from(['nav', 'teleop']),
    _speeds(MAX_LINEAR),
    _speeds(MAX_ANGULAR),
    # linear.y: a holonomic component the gate ignores, but must still be finite
    st.sampled_from([0.0, 0.0, 0.0, 0.1, math.nan]),
)
_HEARTBEAT = st.tuples(
    st.just('heartbeat'),
    st.sampled_from(
        ['now', 'now', 'past', 'old', 'zero', 'none', 'negative', 'future', 'far', 'nan']
    ),
)
_ESTOP = st.tuples(st.just('estop'), st.sampled_from([False, False, False, True]))
_PERSON = st.tuples(st.just('person'), st.sampled_from([False, False, False, True]))
_ODOM = st.tuples(
    st.just('odom'),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-10, 10),
    st.floats(allow_nan=True, allow_infinity=True),
)
_OBSTACLE = st.tuples(
    st.just('obstacle'),
    st.one_of(st.floats(0, 5), st.floats(allow_nan=True, allow_infinity=True)),
)
_RESET = st.tuples(st.just('reset'), st.sampled_from(['alice', 'alice', '', '   ']))
_CAP = st.tuples(
    st.just('cap'),
    st.one_of(st.none(), st.floats(0, 1), st.sampled_from([math.nan, math.inf, -1.0])),
)
_EVENT = st.one_of(
    _COMMAND, _COMMAND, _COMMAND, _HEARTBEAT, _ESTOP, _PERSON, _ODOM, _OBSTACLE, _RESET, _CAP
)
_DT = st.one_of(
    st.just(PERIOD),
    st.just(PERIOD),
    st.floats(0.0, 0.2),
    st.floats(0.2, 3.0),
    st.floats(-0.3, 0.0),
    st.sampled_from([-0.04, -0.06, -50.0, 1e3, 1e6]),
)
_STREAM = st.lists(
    st.tuples(_DT, st.booleans(), st.lists(_EVENT, max_size=4)), min_size=10, max_size=50
)


def _heartbeat_stamp(kind: str, now: float) -> float | None:
    return {
        'now': now,
        'past': now - 0.3,
        'old': now - 0.6,
        'zero': 0.0,
        'none': None,
        'negative': -now,
        'future': now + 0.4,
        'far': now + 1e6,
        'nan': math.nan,
    }[kind]


def test_no_bad_velocity_ever_leaves_the_gate() -> None:
    """Random input streams: every output is finite, in limits, and zero under any stop cause."""
    config = GateConfig()
    limits = config.limits
    timeouts = {s.name: s.timeout for s in config.sources}
    priority = {s.name: s.priority for s in config.sources}
    stats: Counter[str] = Counter()

    @settings(
        max_examples=300,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.floats(-MAX_LINEAR, MAX_LINEAR), st.floats(-MAX_ANGULAR, MAX_ANGULAR), _STREAM)
    def check(warm_linear: float, warm_angular: float, stream: list[Any]) -> None:
        rig = Rig(config)
        rig.run(30, nav=(warm_linear, warm_angular))
        gate, now, prev = rig.gate, rig.t, rig.out
        # A model of the command sources: name -> (stamp, valid); selection as twist_mux does.
        model = {'nav': (now, True)}
        for dt, send_heartbeat, events in stream:
            if now + dt < now - BACKWARD_JUMP:
                model.clear()  # the clock was reset: every earlier input is stale
            prev_now, now = now, now + dt
            if send_heartbeat:
                gate.heartbeat(now, now)
            for event in events:
                kind = event[0]
                if kind == 'command':
                    _, source, linear, angular, linear_y = event
                    reason = gate.command(
                        source, (linear, linear_y, 0.0), (0.0, 0.0, angular), now
                    )
                    valid = (
                        all(math.isfinite(v) for v in (linear, angular, linear_y))
                        and abs(linear) <= MAX_LINEAR
                        and abs(angular) <= MAX_ANGULAR
                    )
                    assert bool(reason) != valid, (event, reason)
                    model[source] = (now, valid)
                elif kind == 'heartbeat':
                    gate.heartbeat(_heartbeat_stamp(event[1], now), now)
                elif kind == 'estop':
                    gate.estop(event[1], now)
                elif kind == 'person':
                    gate.person_in_zone(event[1], now)
                elif kind == 'odom':
                    gate.odometry(Pose2D(event[1], event[2], event[3]), now)
                elif kind == 'obstacle':
                    gate.obstacle_distance(event[1], now)
                elif kind == 'reset':
                    gate.reset(event[1], now)
                else:
                    gate.set_speed_cap(event[1])
            out = gate.update(now)
            stats['updates'] += 1
            linear, angular = out.command.linear, out.command.angular
            # 0 bad values: finite and within the configured limits.
            assert math.isfinite(linear) and math.isfinite(angular), out
            assert abs(linear) <= limits.max_linear_speed, out
            assert abs(angular) <= limits.max_angular_speed, out
            # Any stop cause: exactly zero (no ramp, no last command held).
            if out.stops or out.estop_engaged or out.person_in_zone or not out.heartbeat_ok:
                assert out.command == ZERO and out.command.is_zero, out
                assert out.stops, out
            assert Cause.INTERNAL_ERROR not in causes(out), out  # a crash is a bug too
            # Never "hold last": no fresh source, or a refused latest command, means zero.
            fresh = [
                name
                for name, (stamp, _) in model.items()
                if stamp <= now and now - stamp <= timeouts[name]
            ]
            if not fresh:
                assert out.command.is_zero, (out, model, now)
            else:
                chosen = max(fresh, key=priority.__getitem__)
                if not model[chosen][1]:
                    assert out.command.is_zero, (out, model, now)
                    assert Cause.INVALID_COMMAND in causes(out), out
            # Speeding up is ramped: never more than accel * dt (dt at most one period).
            dt_used = min(max(now - prev_now, 0.0), config.period)
            assert (
                abs(linear) <= abs(prev.command.linear) + limits.max_linear_accel * dt_used + EPS
            )
            assert (
                abs(angular)
                <= abs(prev.command.angular) + limits.max_angular_accel * dt_used + EPS
            )
            if not out.command.is_zero:
                stats['moving'] += 1
            prev = out

    check()
    # The streams must exercise motion as well as stops, or the property says little.
    assert stats['updates'] > 3000
    assert stats['moving'] > 150, stats


# ----- fault matrix ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ('source_stale', 'heartbeat_stale', 'estop', 'person', 'fault'),
    list(itertools.product([False, True], repeat=5)),
)
def test_fault_matrix(
    source_stale: bool, heartbeat_stale: bool, estop: bool, person: bool, fault: bool
) -> None:
    rig = cruising(0.3, 0.2)
    if estop:
        rig.gate.estop(True, rig.t)
    if person:
        rig.gate.person_in_zone(True, rig.t)
    if fault:
        rig.gate.latch_fault(Cause.FAULT, 'left drive over-temperature', rig.t)
    rig.heartbeat = not heartbeat_stale
    latched = estop or person or fault
    stale = source_stale or heartbeat_stale
    timeout = 0.5  # both the nav source's and the heartbeat's
    expected: set[Cause] = set()
    for cause, present in [
        (Cause.ESTOP, estop),
        (Cause.PERSON_IN_ZONE, person),
        (Cause.FAULT, fault),
        (Cause.SOURCE_STALE, source_stale),
        (Cause.HEARTBEAT_STALE, heartbeat_stale),
    ]:
        if present:
            expected.add(cause)
    for i in range(1, 31):
        out = rig.tick() if source_stale else rig.tick(nav=(0.3, 0.2))
        elapsed = i * PERIOD
        if latched:
            assert out.command == ZERO, (i, out)  # at once
        if stale and elapsed >= timeout + PERIOD - EPS:
            assert out.command == ZERO, (i, out)  # within timeout + one period
        if not latched and not stale:
            assert out.command == Velocity(0.3, 0.2), (i, out)
            assert not out.stops
    assert causes(out) == expected
    assert out.command.is_zero == bool(expected)


def test_healthy_forward_command_reaches_the_actuators_after_the_ramp() -> None:
    rig = Rig()
    outputs = rig.run(40, nav=(0.4, 0.0))
    assert outputs[0].command.linear > 0.0
    assert outputs[0].state is GateState.FORWARDING and outputs[0].active_source == 'nav'
    ramp_ticks = math.ceil(0.4 / (LIMITS.max_linear_accel * PERIOD))
    assert outputs[ramp_ticks].command == Velocity(0.4, 0.0)
    assert outputs[-1].command == Velocity(0.4, 0.0)


# ----- stale inputs ------------------------------------------------------------------------------
@pytest.mark.parametrize('timeout', [0.1, 0.5, 1.0, 2.5])
def test_stale_source_gives_zero_within_timeout_plus_one_period(timeout: float) -> None:
    config = GateConfig(sources=(CommandSource('nav', 'cmd_vel_nav', 10, timeout),))
    rig = cruising(0.3, 0.0, config=config)
    t_last = rig.t
    while True:
        out = rig.tick()  # heartbeat still fresh, nav silent
        if rig.t - t_last < timeout - EPS:
            assert out.command == Velocity(0.3, 0.0), 'fresh command must still be forwarded'
        if rig.t - t_last >= timeout + PERIOD - EPS:
            break
    assert out.command == ZERO
    assert causes(out) == {Cause.SOURCE_STALE}
    # and it stays zero, with the cause given, for as long as the source is silent
    for out in rig.run(20):
        assert out.command == ZERO and Cause.SOURCE_STALE in causes(out)


@pytest.mark.parametrize('timeout', [0.1, 0.5, 2.0])
def test_first_update_after_source_timeout_is_zero(timeout: float) -> None:
    """No update in between: the very first update past timeout + period is already zero."""
    config = GateConfig(sources=(CommandSource('nav', 'cmd_vel_nav', 10, timeout),))
    rig = cruising(0.3, 0.0, config=config)
    later = rig.t + timeout + PERIOD
    assert rig.gate.heartbeat(later, later) == ''
    out = rig.gate.update(later)
    assert out.command == ZERO
    assert causes(out) == {Cause.SOURCE_STALE}


@pytest.mark.parametrize('timeout', [0.1, 0.5, 2.0])
def test_stale_heartbeat_gives_zero_within_timeout_plus_one_period(timeout: float) -> None:
    rig = cruising(0.3, 0.0, config=GateConfig(limits=GateLimits(heartbeat_timeout=timeout)))
    rig.heartbeat = False
    t_last = rig.t
    while True:
        out = rig.tick(nav=(0.3, 0.0))
        if rig.t - t_last < timeout - EPS:
            assert out.command == Velocity(0.3, 0.0)
            assert out.heartbeat_ok
        if rig.t - t_last >= timeout + PERIOD - EPS:
            break
    assert out.command == ZERO
    assert causes(out) == {Cause.HEARTBEAT_STALE}
    assert not out.heartbeat_ok
    # A single update far later (no updates in between) is zero too.
    rig2 = cruising(0.3, 0.0, config=GateConfig(limits=GateLimits(heartbeat_timeout=timeout)))
    later = rig2.t + timeout + PERIOD
    rig2.gate.command('nav', (0.3, 0.0, 0.0), (0.0, 0.0, 0.0), later)
    out = rig2.gate.update(later)
    assert out.command == ZERO and causes(out) == {Cause.HEARTBEAT_STALE}


def test_delayed_heartbeat_ages_from_its_stamp_not_its_arrival() -> None:
    rig = cruising(0.3, 0.0)
    rig.heartbeat = False
    t_last = rig.t  # last fresh heartbeat
    for out in rig.run(8, nav=(0.3, 0.0)):  # 0.4 s without one
        assert out.command == Velocity(0.3, 0.0)
    now = rig.t + PERIOD
    stamp = now - 0.3  # stamped 0.15 s after the last one, arrived 0.3 s late: accepted
    assert stamp > t_last
    assert rig.gate.heartbeat(stamp, now) == ''
    rig.gate.command('nav', (0.3, 0.0, 0.0), (0.0, 0.0, 0.0), now)
    out = rig.gate.update(now)
    assert out.command == Velocity(0.3, 0.0) and out.heartbeat_ok
    # Stale at stamp + timeout (+ one period), long before arrival + timeout.
    later = stamp + LIMITS.heartbeat_timeout + PERIOD
    assert later < now + LIMITS.heartbeat_timeout
    rig.gate.command('nav', (0.3, 0.0, 0.0), (0.0, 0.0, 0.0), later)
    out = rig.gate.update(later)
    assert out.command == ZERO and causes(out) == {Cause.HEARTBEAT_STALE}


@pytest.mark.parametrize('stamp', [None, 0.0, -1.0, math.nan, math.inf, 'old', 'future'], ids=str)
def test_bad_heartbeats_are_refused_and_keep_the_robot_stopped(stamp: Any) -> None:
    rig = Rig(heartbeat=False)
    for _ in range(30):
        now = rig.t + PERIOD
        value = {'old': now - 0.6, 'future': now + 1e6}.get(stamp, stamp)
        assert rig.gate.heartbeat(value, now) != ''
        out = rig.tick(nav=(0.3, 0.0))
        assert out.command == ZERO
        assert Cause.HEARTBEAT_STALE in causes(out)


# ----- e-stop and person in zone -----------------------------------------------------------------
def _estop(gate: GateCore, on: bool, now: float) -> None:
    gate.estop(on, now)


def _person(gate: GateCore, on: bool, now: float) -> None:
    gate.person_in_zone(on, now)


LATCHING = [
    pytest.param(_estop, Cause.ESTOP, id='estop'),
    pytest.param(_person, Cause.PERSON_IN_ZONE, id='person_in_zone'),
]


@pytest.mark.parametrize(('engage', 'cause'), LATCHING)
def test_latching_cause_stops_at_once_from_full_speed(
    engage: Callable[[GateCore, bool, float], None], cause: Cause
) -> None:
    rig = cruising(MAX_LINEAR, MAX_ANGULAR)
    engage(rig.gate, True, rig.t + PERIOD)
    out = rig.tick(nav=(MAX_LINEAR, MAX_ANGULAR))
    assert out.command == ZERO  # no ramp from 0.5 m/s
    assert out.state is GateState.LATCHED
    assert [(s.cause, s.latched) for s in out.stops] == [(cause, True)]


@pytest.mark.parametrize(('engage', 'cause'), LATCHING)
def test_latched_until_an_identified_operator_resets_after_release(
    engage: Callable[[GateCore, bool, float], None], cause: Cause
) -> None:
    rig = cruising(0.3, 0.0)
    engage(rig.gate, True, rig.t)
    for out in rig.run(5, nav=(0.3, 0.0)):
        assert out.command == ZERO
    # Refused while the cause is still present; nothing cleared.
    ok, message, remaining = rig.gate.reset('alice', rig.t)
    assert not ok and message
    assert [s.cause for s in remaining] == [cause]
    for out in rig.run(5, nav=(0.3, 0.0)):
        assert out.command == ZERO and cause in causes(out)
    # Released: still latched, no automatic restart, however long we wait.
    engage(rig.gate, False, rig.t)
    for out in rig.run(40, nav=(0.3, 0.0)):
        assert out.command == ZERO
        assert out.state is GateState.LATCHED
        assert [(s.cause, s.latched) for s in out.stops] == [(cause, True)]
    # A reset needs an operator id.
    for operator in ['', '   ']:
        ok, message, _ = rig.gate.reset(operator, rig.t)
        assert not ok and 'operator' in message
        assert rig.tick(nav=(0.3, 0.0)).command == ZERO
    ok, message, remaining = rig.gate.reset('alice', rig.t)
    assert ok and remaining == ()
    out = rig.tick(nav=(0.3, 0.0))
    assert not out.stops and out.command.linear > 0.0
    assert 0.0 < out.command.linear <= LIMITS.max_linear_accel * PERIOD + EPS  # ramps up again


def test_refused_reset_clears_nothing() -> None:
    rig = cruising(0.3, 0.0)
    rig.gate.person_in_zone(True, rig.t)
    rig.gate.person_in_zone(False, rig.t)  # person gone; latch stays
    rig.gate.estop(True, rig.t)
    ok, _, remaining = rig.gate.reset('alice', rig.t)
    assert not ok
    assert [s.cause for s in remaining] == [Cause.ESTOP]
    rig.gate.estop(False, rig.t)
    out = rig.tick(nav=(0.3, 0.0))
    assert out.command == ZERO
    assert causes(out) == {Cause.ESTOP, Cause.PERSON_IN_ZONE}  # both still latched
    assert rig.gate.reset('alice', rig.t)[0]
    assert not rig.tick(nav=(0.3, 0.0)).stops


def test_person_still_present_blocks_reset_of_a_released_estop() -> None:
    rig = cruising(0.3, 0.0)
    rig.gate.estop(True, rig.t)
    rig.gate.estop(False, rig.t)
    rig.gate.person_in_zone(True, rig.t)
    ok, _, remaining = rig.gate.reset('alice', rig.t)
    assert not ok and [s.cause for s in remaining] == [Cause.PERSON_IN_ZONE]
    assert rig.tick(nav=(0.3, 0.0)).command == ZERO


def test_latched_fault_holds_until_reset() -> None:
    rig = cruising(0.3, 0.0)
    rig.gate.latch_fault(Cause.FAULT, 'motor over-current', rig.t)
    for out in rig.run(20, nav=(0.3, 0.0)):
        assert out.command == ZERO and causes(out) == {Cause.FAULT}
    assert rig.gate.invariant_active(rig.t) == 'motor over-current'
    assert not rig.gate.reset('', rig.t)[0]
    assert rig.tick(nav=(0.3, 0.0)).command == ZERO
    assert rig.gate.reset('alice', rig.t)[0]
    assert rig.gate.invariant_active(rig.t) == ''
    assert rig.tick(nav=(0.3, 0.0)).command.linear > 0.0


# ----- ramps -------------------------------------------------------------------------------------
@pytest.mark.parametrize(('accel', 'decel'), [(0.5, 1.0), (0.2, 0.4), (2.0, 3.0)])
def test_normal_stop_ramps_down_and_start_ramps_up(accel: float, decel: float) -> None:
    config = GateConfig(limits=GateLimits(max_linear_accel=accel, max_linear_decel=decel))
    rig = Rig(config)
    speeds = [out.command.linear for out in rig.run(60, nav=(MAX_LINEAR, 0.0))]
    steps = [b - a for a, b in itertools.pairwise([0.0, *speeds])]
    assert all(-EPS <= step <= accel * PERIOD + EPS for step in steps), steps
    assert speeds[-1] == MAX_LINEAR
    # Source commands zero: a normal stop, ramped down, not cut.
    speeds = [MAX_LINEAR] + [out.command.linear for out in rig.run(60, nav=(0.0, 0.0))]
    assert not rig.out.stops
    decreases = [a - b for a, b in itertools.pairwise(speeds)]
    assert all(-EPS <= d <= decel * PERIOD + EPS for d in decreases), decreases
    assert speeds[1] == pytest.approx(MAX_LINEAR - decel * PERIOD)  # ramped, not a jump
    assert speeds[-1] == 0.0
    assert rig.out.state is GateState.FORWARDING


def test_reversing_brakes_through_zero_at_the_decel_limit() -> None:
    rig = cruising(0.3, 0.0)
    speeds = [0.3] + [out.command.linear for out in rig.run(40, nav=(-0.3, 0.0))]
    for a, b in itertools.pairwise(speeds):
        if a > 0:
            assert b >= a - LIMITS.max_linear_decel * PERIOD - EPS and b >= 0.0
        else:
            assert b <= 0.0 and abs(b) - abs(a) <= LIMITS.max_linear_accel * PERIOD + EPS
    assert speeds[-1] == -0.3


# ----- invalid commands --------------------------------------------------------------------------
BAD_COMMANDS = [
    pytest.param((0.5000001, 0.0, 0.0), (0.0, 0.0, 0.0), id='just-over-linear'),
    pytest.param((-0.6, 0.0, 0.0), (0.0, 0.0, 0.0), id='reverse-over-limit'),
    pytest.param((1e308, 0.0, 0.0), (0.0, 0.0, 0.0), id='huge'),
    pytest.param((math.nan, 0.0, 0.0), (0.0, 0.0, 0.0), id='nan-linear'),
    pytest.param((math.inf, 0.0, 0.0), (0.0, 0.0, 0.0), id='inf-linear'),
    pytest.param((0.1, 0.0, 0.0), (0.0, 0.0, 1.0000001), id='just-over-angular'),
    pytest.param((0.1, 0.0, 0.0), (0.0, 0.0, math.nan), id='nan-angular'),
    pytest.param((0.1, 0.0, 0.0), (0.0, 0.0, -math.inf), id='ninf-angular'),
    pytest.param((0.1, math.nan, 0.0), (0.0, 0.0, 0.0), id='nan-linear-y'),
    pytest.param((0.1, 0.0, 0.0), (math.inf, 0.0, 0.0), id='inf-angular-x'),
]


@pytest.mark.parametrize(('linear', 'angular'), BAD_COMMANDS)
def test_invalid_command_is_refused_and_the_last_one_is_not_held(
    linear: tuple[float, float, float], angular: tuple[float, float, float]
) -> None:
    rig = cruising(0.3, 0.2)
    now = rig.t + PERIOD
    reason = rig.gate.command('nav', linear, angular, now)
    assert reason
    rig.gate.heartbeat(now, now)
    out = rig.gate.update(now)
    rig.k += 1
    assert out.command == ZERO  # not the previous 0.3 m/s, not a ramp
    assert causes(out) == {Cause.INVALID_COMMAND}
    assert out.state is GateState.STOPPING
    # Nothing new from nav: still zero (the refused command replaced the valid one).
    for out in rig.run(5):
        assert out.command == ZERO
    # A valid command again: motion resumes from zero, ramped.
    out = rig.tick(nav=(0.3, 0.2))
    assert not out.stops
    assert 0.0 < out.command.linear <= LIMITS.max_linear_accel * PERIOD + EPS


def test_commands_at_the_limit_are_accepted() -> None:
    rig = Rig()
    assert rig.gate.command('nav', (MAX_LINEAR, 0.0, 0.0), (0.0, 0.0, -MAX_ANGULAR), rig.t) == ''
    assert rig.gate.command('teleop', (-MAX_LINEAR, 0, 0), (0, 0, MAX_ANGULAR), rig.t) == ''
    assert rig.gate.command('nobody', (0.1, 0, 0), (0, 0, 0), rig.t) != ''


# ----- priority ----------------------------------------------------------------------------------
def test_teleop_wins_over_nav_and_nav_takes_over_when_teleop_goes_stale() -> None:
    rig = Rig()
    for out in rig.run(40, nav=(0.3, 0.0), teleop=(-0.2, 0.5)):
        assert out.active_source == 'teleop'
        assert out.command.linear <= 0.0
    assert out.command == Velocity(-0.2, 0.5)
    t_last = rig.t
    while rig.t - t_last < 0.5 + PERIOD - EPS:
        out = rig.tick(nav=(0.3, 0.0))  # teleop silent
        if rig.t - t_last < 0.5 - EPS:
            assert out.active_source == 'teleop'
    assert out.active_source == 'nav'
    assert Cause.SOURCE_STALE not in causes(out)  # nav is fresh: no stop, a hand-over
    outputs = rig.run(40, nav=(0.3, 0.0))
    assert outputs[-1].command == Velocity(0.3, 0.0)
    assert all(o.active_source == 'nav' for o in outputs)


def test_refused_teleop_command_stops_even_with_a_valid_nav_command() -> None:
    rig = Rig()
    rig.run(30, nav=(0.3, 0.0))
    now = rig.t + PERIOD
    assert rig.gate.command('teleop', (math.nan, 0, 0), (0, 0, 0), now)
    rig.gate.command('nav', (0.3, 0, 0), (0, 0, 0), now)
    rig.gate.heartbeat(now, now)
    out = rig.gate.update(now)
    # The refused source keeps control (it commands zero); while stopped nothing is forwarded.
    assert out.active_source == ''
    assert out.command == ZERO and Cause.INVALID_COMMAND in causes(out)
    assert any(s.detail.startswith('teleop:') for s in out.stops), out.stops


# ----- braking-distance cap ----------------------------------------------------------------------
def braking_cap(distance: float) -> float:
    room = max(0.0, distance - LIMITS.obstacle_margin)
    return math.sqrt(2.0 * LIMITS.braking_decel * room)


@pytest.mark.parametrize('distance', [0.0, 0.2, 0.3, 0.31, 0.35, 0.45, 0.6, 1.0, 5.0])
def test_braking_distance_caps_forward_speed(distance: float) -> None:
    rig = Rig()
    cap = braking_cap(distance)
    for _ in range(60):
        rig.gate.obstacle_distance(distance, rig.t + PERIOD)
        out = rig.tick(nav=(MAX_LINEAR, 0.0))
        assert out.command.linear <= cap + EPS, (distance, out)
    assert out.command.linear == pytest.approx(min(MAX_LINEAR, cap))
    assert out.max_linear_speed == pytest.approx(min(MAX_LINEAR, cap))
    # The obstacle is ahead: backing away is not capped by it.
    for _ in range(60):
        rig.gate.obstacle_distance(distance, rig.t + PERIOD)
        out = rig.tick(nav=(-0.3, 0.0))
    assert out.command.linear == -0.3


@pytest.mark.parametrize('distance', [0.3, 0.4, 0.45])
def test_obstacle_appearing_at_speed_caps_forward_speed_at_once(distance: float) -> None:
    """The cap holds from the first update that knows the obstacle, not after a ramp."""
    rig = cruising(MAX_LINEAR, 0.0)
    cap = braking_cap(distance)
    assert cap < MAX_LINEAR
    for _ in range(20):
        rig.gate.obstacle_distance(distance, rig.t + PERIOD)
        out = rig.tick(nav=(MAX_LINEAR, 0.0))
        assert out.command.linear <= cap + EPS, (distance, cap, out)
        assert out.command.linear <= out.max_linear_speed + EPS, out


# ----- keep-out zones ----------------------------------------------------------------------------
def _box(name: str, x0: float, y0: float, x1: float, y1: float) -> KeepOutZone:
    return KeepOutZone(name, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def test_odometry_inside_a_keep_out_zone_latches() -> None:
    config = GateConfig(keep_out_zones=(_box('aisle_4', 2.0, -1.0, 3.0, 1.0),))
    rig = Rig(config, odometry=Pose2D(-2.0, 0.0, math.pi))
    rig.run(30, nav=(0.2, 0.0))
    assert not rig.out.stops and rig.out.command.linear == 0.2
    rig.odometry = Pose2D(2.5, 0.0, math.pi)
    out = rig.tick(nav=(0.2, 0.0))
    assert out.command == ZERO
    assert [(s.cause, s.latched) for s in out.stops] == [(Cause.KEEP_OUT_ZONE, True)]
    ok, _, remaining = rig.gate.reset('alice', rig.t)
    assert not ok and [s.cause for s in remaining] == [Cause.KEEP_OUT_ZONE]
    rig.odometry = Pose2D(1.0, 0.0, math.pi)  # moved out (e.g. pushed by hand)
    out = rig.tick(nav=(0.2, 0.0))
    assert out.command == ZERO and Cause.KEEP_OUT_ZONE in causes(out)  # still latched
    assert rig.gate.reset('alice', rig.t)[0]
    assert rig.tick(nav=(0.2, 0.0)).command.linear > 0.0


def test_motion_toward_a_zone_ahead_is_refused() -> None:
    config = GateConfig(keep_out_zones=(_box('aisle_4', 0.35, -1.0, 5.0, 1.0),))
    rig = Rig(config, odometry=Pose2D(0.0, 0.0, 0.0))
    for _ in range(10):
        out = rig.tick(nav=(0.3, 0.0))
        assert out.command == ZERO
        assert [(s.cause, s.latched) for s in out.stops] == [(Cause.KEEP_OUT_ZONE, False)]
    # Away from the zone, or facing away, is fine.
    outputs = rig.run(30, nav=(-0.3, 0.0))
    assert outputs[-1].command == Velocity(-0.3, 0.0) and not outputs[-1].stops
    rig.odometry = Pose2D(0.0, 0.0, math.pi)
    outputs = rig.run(30, nav=(0.3, 0.0))
    assert outputs[-1].command == Velocity(0.3, 0.0)


@pytest.mark.parametrize('speed', [0.1, 0.3, 0.5])
def test_robot_never_drives_into_a_thin_zone_ahead(speed: float) -> None:
    """A zone between the robot and the end of its braking path must stop it too."""
    strip = _box('doorway', 0.1, -1.0, 0.2, 1.0)
    config = GateConfig(keep_out_zones=(strip,))
    rig = Rig(config, odometry=Pose2D(0.0, 0.0, 0.0))
    x = 0.0
    for _ in range(100):
        out = rig.tick(nav=(speed, 0.0))
        x += out.command.linear * PERIOD
        rig.odometry = Pose2D(x, 0.0, 0.0, out.command.linear)
        assert x < 0.1, f'robot at x={x:.3f} entered the zone {strip}: {out}'


def test_stale_odometry_with_zones_stops() -> None:
    config = GateConfig(keep_out_zones=(_box('aisle_4', 20.0, -1.0, 30.0, 1.0),))
    rig = Rig(config, odometry=Pose2D(0.0, 0.0, math.pi))
    rig.run(30, nav=(0.2, 0.0))
    assert rig.out.command == Velocity(0.2, 0.0)
    rig.odometry = None
    t_last = rig.t
    while rig.t - t_last < LIMITS.odom_timeout + PERIOD - EPS:
        out = rig.tick(nav=(0.2, 0.0))
    assert out.command == ZERO
    assert causes(out) == {Cause.ODOMETRY_STALE}
    # Without zones (and no plan), odometry is not needed to forward a command.
    plain = Rig()
    assert plain.run(30, nav=(0.2, 0.0))[-1].command == Velocity(0.2, 0.0)
    # Non-finite odometry counts as none.
    rig.odometry = Pose2D(math.nan, 0.0, 0.0)
    assert rig.tick(nav=(0.2, 0.0)).command == ZERO


# ----- rogue publishers, activation --------------------------------------------------------------
def test_rogue_publisher_latches_until_gone_and_reset() -> None:
    rig = cruising(0.3, 0.0)
    rig.gate.rogue_publishers('/teleop_twist_keyboard publishes on cmd_vel', rig.t)
    out = rig.tick(nav=(0.3, 0.0))
    assert out.command == ZERO
    assert [(s.cause, s.latched) for s in out.stops] == [(Cause.ROGUE_PUBLISHER, True)]
    ok, _, remaining = rig.gate.reset('alice', rig.t)
    assert not ok and [s.cause for s in remaining] == [Cause.ROGUE_PUBLISHER]
    rig.gate.rogue_publishers('', rig.t)
    assert rig.tick(nav=(0.3, 0.0)).command == ZERO  # gone, but latched
    assert rig.gate.reset('alice', rig.t)[0]
    assert rig.tick(nav=(0.3, 0.0)).command.linear > 0.0


def test_not_activated_gate_always_gives_zero() -> None:
    rig = Rig(activate=False)
    for out in rig.run(60, nav=(0.3, 0.2), teleop=(0.1, 0.0)):
        assert out.command == ZERO
        assert Cause.NOT_ACTIVE in causes(out)
    assert rig.gate.reset('alice', rig.t)[0]  # nothing latched: reset changes nothing
    assert rig.tick(nav=(0.3, 0.2)).command == ZERO


def test_deactivated_gate_gives_zero_at_once() -> None:
    rig = cruising(MAX_LINEAR, 0.0)
    rig.gate.deactivate()
    for out in rig.run(10, nav=(MAX_LINEAR, 0.0)):
        assert out.command == ZERO and Cause.NOT_ACTIVE in causes(out)


def test_clock_reset_backwards_makes_every_input_stale() -> None:
    rig = cruising(0.3, 0.0)
    now = rig.t - 10.0
    out = rig.gate.update(now)
    assert out.command == ZERO
    assert {Cause.SOURCE_STALE, Cause.HEARTBEAT_STALE} <= causes(out)


# ----- configuration from flat parameters --------------------------------------------------------
def _params(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        'rate_hz': 50.0,
        'max_linear_speed': 0.8,
        'heartbeat_timeout': 1,  # YAML int for a float: accepted
        'command_sources': ['nav', 'teleop'],
        'command_sources.nav.topic': 'cmd_vel_nav',
        'command_sources.nav.priority': 10,
        'command_sources.nav.timeout': 0.5,
        'command_sources.teleop.topic': 'cmd_vel_teleop',
        'command_sources.teleop.priority': 100,
        'command_sources.teleop.timeout': 0.25,
        'keep_out_zones': ['aisle_4'],
        'keep_out_zones.aisle_4.polygon': [0.0, 0.0, 2, 0.0, 2.0, 1.0, 0.0, 1.0],
        'waypoints': ['dock_1'],
        'waypoints.dock_1.pose': [2.0, 1.0, 0.0],
        'actuator_topics': ['cmd_vel'],
    }
    values.update(overrides)
    return values


def test_valid_flat_parameters_give_the_expected_config() -> None:
    config = gate_config_from_parameters(_params())
    assert config == GateConfig(
        limits=GateLimits(rate_hz=50.0, max_linear_speed=0.8, heartbeat_timeout=1.0),
        sources=(
            CommandSource('nav', 'cmd_vel_nav', 10, 0.5),
            CommandSource('teleop', 'cmd_vel_teleop', 100, 0.25),
        ),
        keep_out_zones=(KeepOutZone('aisle_4', ((0.0, 0.0), (2.0, 0.0), (2.0, 1.0), (0.0, 1.0))),),
        waypoints=(Waypoint('dock_1', 2.0, 1.0, 0.0),),
        actuator_topics=('cmd_vel',),
    )
    assert config.period == pytest.approx(0.02)
    assert config.waypoint('dock_1') == Waypoint('dock_1', 2.0, 1.0, 0.0)
    assert config.waypoint('dock_2') is None


def test_default_like_parameters_give_the_default_config() -> None:
    values = {
        'command_sources.nav.topic': 'cmd_vel_nav',
        'command_sources.nav.priority': 10,
        'command_sources.nav.timeout': 0.5,
        'command_sources.teleop.topic': 'cmd_vel_teleop',
        'command_sources.teleop.priority': 100,
        'command_sources.teleop.timeout': 0.5,
    }
    assert gate_config_from_parameters(values) == GateConfig()


@pytest.mark.parametrize(
    ('overrides', 'mentions'),
    [
        ({'command_sources.nav.timeout': 0.0}, 'command_sources.nav.timeout'),
        ({'command_sources.nav.timeout': 0}, 'command_sources.nav.timeout'),
        ({'command_sources.teleop.timeout': -0.5}, 'command_sources.teleop.timeout'),
        ({'command_sources.teleop.timeout': math.nan}, 'command_sources.teleop.timeout'),
        ({'command_sources.teleop.timeout': math.inf}, 'command_sources.teleop.timeout'),
        ({'command_sources.teleop.timeout': 11.0}, 'command_sources.teleop.timeout'),
        ({'heartbeat_timeout': 0.0}, 'heartbeat_timeout'),
        ({'estop_timeout': 0.0}, 'estop_timeout'),
        ({'odom_timeout': 0.0}, 'odom_timeout'),
        ({'obstacle_timeout': 0.0}, 'obstacle_timeout'),
        ({'plan_step_timeout': 0.0}, 'plan_step_timeout'),
        ({'command_sources.teleop.priority': 10}, 'priorit'),
        ({'command_sources.teleop.priority': 50}, 'priorit'),  # equals plan_priority
        ({'command_sources.teleop.priority': 1001}, 'command_sources.teleop.priority'),
        ({'command_sources.teleop.topic': 'cmd_vel_nav'}, 'topics'),
        ({'command_sources.teleop.topic': 'cmd vel'}, 'command_sources.teleop.topic'),
        ({'command_sources': []}, 'command_sources'),
        ({'command_sources': ['nav', 'nav']}, 'command_sources'),
        ({'command_sources': ['nav', 'teleop', 'joy']}, 'command_sources.joy.topic'),
        ({'max_linear_sped': 0.4}, 'max_linear_sped'),
        ({'command_sources.nav.topik': 'x'}, 'command_sources.nav.topik'),
        ({'keep_out_zones.aisle_5.polygon': [0, 0, 1, 0, 1, 1]}, 'keep_out_zones.aisle_5'),
        ({'keep_out_zones.aisle_4.polygon': [0.0, 0.0, 1.0, 0.0]}, 'keep_out_zones.aisle_4'),
        ({'keep_out_zones.aisle_4.polygon': [0, 0, 1, 0, 1, 1, 0]}, 'keep_out_zones.aisle_4'),
        ({'keep_out_zones.aisle_4.polygon': [0, 0, 1, 0, 1, math.nan]}, 'keep_out_zones.aisle_4'),
        ({'keep_out_zones.aisle_4.polygon': [0, 0, 1, 0, 1, True]}, 'keep_out_zones.aisle_4'),
        ({'keep_out_zones.aisle_4.polygon': 'square'}, 'keep_out_zones.aisle_4'),
        ({'keep_out_zones': ['4th_aisle']}, 'keep_out_zones'),
        ({'waypoints.dock_1.pose': [2.0, 1.0]}, 'waypoints.dock_1.pose'),
        ({'waypoints.dock_1.pose': [2.0, math.inf, 0.0]}, 'waypoints.dock_1.pose'),
        ({'actuator_topics': []}, 'actuator_topics'),
        ({'actuator_topics': ['cmd_vel', 'cmd_vel_nav']}, 'actuator'),
        ({'max_linear_speed': 0.0}, 'max_linear_speed'),
        ({'max_linear_speed': math.nan}, 'max_linear_speed'),
        ({'rate_hz': 'fast'}, 'rate_hz'),
        ({'navigation_backend': 'nav3'}, 'navigation_backend'),
        ({'nav2_source': 'joystick'}, 'nav2_source'),
    ],
    ids=lambda value: str(value)[:60] if isinstance(value, dict) else None,
)
def test_invalid_parameters_are_refused_with_a_message_naming_them(
    overrides: dict[str, Any], mentions: str
) -> None:
    with pytest.raises(ConfigError, match=mentions.replace('.', r'\.')):
        gate_config_from_parameters(_params(**overrides))


def test_missing_source_key_is_refused() -> None:
    values = _params()
    del values['command_sources.teleop.timeout']
    with pytest.raises(ConfigError, match=r'command_sources\.teleop\.timeout'):
        gate_config_from_parameters(values)


def test_zero_source_timeout_message_says_why() -> None:
    with pytest.raises(ConfigError) as error:
        gate_config_from_parameters(_params(**{'command_sources.nav.timeout': 0.0}))
    assert 'never stale' in str(error.value)


# ----- plan motion -------------------------------------------------------------------------------
def test_nav2_source_needs_no_matching_source_with_the_built_in_backend() -> None:
    config = gate_config_from_parameters(
        _params(nav2_source='joystick', navigation_backend='builtin')
    )
    assert config.limits.nav2_source == 'joystick'


def _delegating_rig() -> Rig:
    """A plan running whose motion is delegated to the nav source (a Nav2 step)."""
    rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
    rig.gate.set_plan_running(True, rig.t)
    rig.gate.delegate_plan_motion('nav')
    return rig


def _plan_alive(rig: Rig) -> None:
    """The plan worker's tick: the step is alive and commands nothing of its own."""
    rig.gate.plan_command(ZERO, rig.t + PERIOD)


def test_delegated_source_drives_as_the_plan_at_plan_priority() -> None:
    rig = _delegating_rig()
    for _ in range(40):
        _plan_alive(rig)
        out = rig.tick(nav=(0.3, 0.1))
    assert out.command == Velocity(0.3, 0.1) and out.state is GateState.EXECUTING_PLAN
    assert out.active_source == 'plan'
    # Every rule still applies to the delegated motion: a refused command stops.
    _plan_alive(rig)
    rig.k += 1
    assert rig.gate.command('nav', (9.0, 0, 0), (0, 0, 0), rig.t)
    rig.gate.heartbeat(rig.t, rig.t)
    rig.gate.odometry(Pose2D(0.0, 0.0, 0.0), rig.t)
    out = rig.gate.update(rig.t)
    assert out.command == ZERO and Cause.INVALID_COMMAND in causes(out)


def test_without_delegation_a_running_plan_ignores_the_nav_source() -> None:
    rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
    rig.gate.set_plan_running(True, rig.t)
    for _ in range(20):
        _plan_alive(rig)
        out = rig.tick(nav=(0.3, 0.0))
    assert out.active_source == 'plan' and out.command == ZERO


def test_silent_delegate_stops_within_its_timeout_plus_one_period_and_says_through_what() -> None:
    rig = _delegating_rig()
    for _ in range(40):
        _plan_alive(rig)
        rig.tick(nav=(0.3, 0.0))
    last = rig.t
    while True:
        _plan_alive(rig)  # the step is alive; Nav2's controller has gone quiet
        out = rig.tick()
        if out.command == ZERO:
            break
    assert rig.t - last <= 0.5 + PERIOD + EPS
    stale = [s for s in out.stops if s.cause is Cause.SOURCE_STALE]
    assert stale and 'through nav' in stale[0].detail


def test_delegation_ends_with_the_plan() -> None:
    rig = _delegating_rig()
    for _ in range(20):
        _plan_alive(rig)
        rig.tick(nav=(0.3, 0.0))
    rig.gate.set_plan_running(False, rig.t)
    rig.gate.set_plan_running(True, rig.t)  # the next plan: nav is not its motion
    for _ in range(10):
        _plan_alive(rig)
        out = rig.tick(nav=(0.3, 0.0))
    assert out.active_source == 'plan' and out.command == ZERO


_PLAN_EVENT = st.one_of(
    st.tuples(st.just('nav'), _speeds(MAX_LINEAR), _speeds(MAX_ANGULAR)),
    st.tuples(st.just('nav'), st.floats(0.1, 0.4), st.floats(-0.5, 0.5)),
    st.tuples(st.just('alive')),
    st.tuples(st.just('alive')),
    st.tuples(st.just('delegate'), st.booleans()),
    st.tuples(st.just('running'), st.booleans()),
)
_PLAN_STREAM = st.lists(
    st.tuples(st.one_of(st.just(PERIOD), st.floats(0.0, 0.8)), st.lists(_PLAN_EVENT, max_size=4)),
    min_size=10,
    max_size=60,
)


def test_delegated_plan_motion_never_outlives_its_source_or_its_step() -> None:
    """Random plan streams: a running plan moves the robot (beyond ramping down) only while its
    step is alive and, if delegated, the delegate's latest command is fresh and valid."""
    nav_timeout = next(s.timeout for s in GateConfig().sources if s.name == 'nav')
    stats: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, database=None)
    @given(_PLAN_STREAM)
    def check(stream: list[Any]) -> None:
        rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
        gate, now = rig.gate, rig.t
        running, delegated = False, False
        nav_stamp, nav_valid, alive = -math.inf, False, -math.inf
        prev = ZERO
        for dt, events in stream:
            now += dt
            gate.heartbeat(now, now)
            gate.odometry(Pose2D(0.0, 0.0, 0.0), now)
            for event in events:
                if event[0] == 'nav':
                    reason = gate.command('nav', (event[1], 0, 0), (0, 0, event[2]), now)
                    nav_stamp, nav_valid = now, not reason
                elif event[0] == 'alive' and running:
                    gate.plan_command(ZERO, now)
                    alive = now
                elif event[0] == 'delegate' and running:
                    gate.delegate_plan_motion('nav' if event[1] else '')
                    delegated = event[1]
                elif event[0] == 'running':
                    gate.set_plan_running(event[1], now)
                    running = event[1]
                    if not running:
                        delegated, alive = False, -math.inf
            out = gate.update(now)
            command = out.command
            assert math.isfinite(command.linear) and math.isfinite(command.angular), out
            assert abs(command.linear) <= MAX_LINEAR and abs(command.angular) <= MAX_ANGULAR
            step_alive = now - alive <= LIMITS.plan_step_timeout
            source_ok = nav_valid and now - nav_stamp <= nav_timeout
            if running and not (step_alive and delegated and source_ok):
                # Nothing may drive: at most a ramp down of what was already moving.
                assert abs(command.linear) <= abs(prev.linear) + EPS, (out, prev)
                assert abs(command.angular) <= abs(prev.angular) + EPS, (out, prev)
            if running and delegated and not command.is_zero:
                stats['delegated moving'] += 1
            prev = command

    check()
    assert stats['delegated moving'] > 100, stats


def test_delegating_to_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match='joystick'):
        GateCore(GateConfig(), T0).delegate_plan_motion('joystick')


def test_canceled_plan_stops_at_once_then_nothing_moves_without_a_new_command() -> None:
    rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
    rig.gate.set_plan_running(True, rig.t)
    for _ in range(40):
        rig.gate.plan_command(Velocity(0.3, 0.0), rig.t + PERIOD)
        rig.tick()
    assert rig.out.command == Velocity(0.3, 0.0) and rig.out.state is GateState.EXECUTING_PLAN
    rig.gate.cancel_plan(rig.t + PERIOD)
    out = rig.tick()
    assert out.command == ZERO  # no ramp: a cancel means stop now
    assert Cause.PLAN_CANCELED in causes(out)
    later = rig.run(5)
    assert all(o.command == ZERO for o in later)
    assert later[-1].state is GateState.IDLE and not later[-1].stops


def test_plan_that_finishes_is_not_reported_as_a_stale_source() -> None:
    rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
    rig.gate.set_plan_running(True, rig.t)
    rig.gate.plan_command(ZERO, rig.t + PERIOD)
    assert rig.tick().state is GateState.EXECUTING_PLAN
    rig.gate.set_plan_running(False, rig.t + PERIOD)
    out = rig.tick()
    assert out.state is GateState.IDLE and not out.stops


def test_silent_plan_step_stops_the_robot() -> None:
    rig = Rig(odometry=Pose2D(0.0, 0.0, 0.0))
    rig.gate.set_plan_running(True, rig.t)
    for _ in range(20):
        rig.gate.plan_command(Velocity(0.3, 0.0), rig.t + PERIOD)
        rig.tick()
    assert rig.out.command.linear > 0
    outs = rig.run(int(0.5 / PERIOD) + 2)  # the step falls silent for its timeout + a period
    assert outs[-1].command == ZERO
    assert Cause.PLAN_STEP_STALE in causes(outs[-1])
