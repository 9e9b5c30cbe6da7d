"""The gate's rules: which command, if any, reaches the actuators, and why not.

:class:`GateCore` holds the latest of every input the gate watches and computes, at each
:meth:`GateCore.update`, the one velocity to publish. It fails closed: every input is checked
(finite, in range, fresh), a stale or missing input means zero, an e-stop, a person in the zone
or a latched fault means zero at once and stays so until an operator resets it after the cause is
gone, and anything it does not understand means zero. It never holds a last command.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass

from muse_supervisor.domain.geometry import point_in_polygon, segment_enters_polygon
from muse_supervisor.domain.motion import ZERO, Pose2D, Velocity
from muse_supervisor.safety.config import GateConfig, KeepOutZone

PLAN_SOURCE = 'plan'
# A clock that goes back by more than this (s) is a reset, not jitter between threads.
_BACKWARD_JUMP = 0.05


class Cause(enum.IntEnum):
    """Why the gate holds the robot stopped; values equal ``StopReason.CAUSE_*``."""

    UNKNOWN = 0
    ESTOP = 1
    PERSON_IN_ZONE = 2
    HEARTBEAT_STALE = 3
    SOURCE_STALE = 4
    INVALID_COMMAND = 5
    ROGUE_PUBLISHER = 6
    KEEP_OUT_ZONE = 7
    FAULT = 8
    PLAN_STEP_STALE = 9
    PLAN_CANCELED = 10
    NOT_ACTIVE = 11
    INTERNAL_ERROR = 12
    ODOMETRY_STALE = 13
    CLOCK_STALE = 14


class GateState(enum.IntEnum):
    """Values equal ``GateStatus.STATE_*``."""

    INACTIVE = 0
    IDLE = 1
    FORWARDING = 2
    EXECUTING_PLAN = 3
    STOPPING = 4
    LATCHED = 5


@dataclass(frozen=True)
class Stop:
    """One cause holding the robot stopped.

    ``present``: whether the condition itself is still there. A latched stop whose cause is gone
    (an e-stop released) still holds the robot until an operator resets it.
    """

    cause: Cause
    latched: bool
    detail: str
    since: float
    present: bool = True


@dataclass(frozen=True)
class GateOutput:
    """What the gate publishes after one update."""

    command: Velocity
    state: GateState
    active_source: str
    stops: tuple[Stop, ...]
    max_linear_speed: float
    max_angular_speed: float
    estop_engaged: bool
    person_in_zone: bool
    heartbeat_ok: bool
    speed_limit_reason: str = ''

    @property
    def reset_required(self) -> bool:
        """Whether only an operator reset can let the robot move again."""
        return any(stop.latched for stop in self.stops)


@dataclass
class _Source:
    priority: int
    timeout: float
    command: Velocity | None = None
    stamp: float = -math.inf
    invalid: str = ''


class GateCore:
    """The gate's state and rules. Not thread-safe: the node serialises calls under one lock."""

    def __init__(self, config: GateConfig, now: float) -> None:
        self.config = config
        limits = config.limits
        self._sources = {s.name: _Source(s.priority, s.timeout) for s in config.sources}
        self._sources[PLAN_SOURCE] = _Source(limits.plan_priority, limits.plan_step_timeout)
        self._active = False
        self._latched: dict[Cause, Stop] = {}
        self._heartbeat = -math.inf
        self._estop_engaged = False
        self._estop_heard = -math.inf
        self._person = False
        self._person_heard = -math.inf
        self._rogue = False
        self._pose: Pose2D | None = None
        self._pose_stamp = -math.inf
        # Obstacle distance: the last reading (None: invalid) and when it came; a source once
        # heard stays "live", so that its silence caps forward motion instead of lifting the cap.
        self._obstacle: float | None = None
        self._obstacle_stamp = -math.inf
        self._obstacle_live = config.limits.obstacle_distance_required
        # Clock watchdog: steady time at which the gate clock was last seen to advance.
        self._clock_value = -math.inf
        self._clock_advanced: float | None = None
        self._clock_stalled = False
        # What the last update published, to tell whether a new cause or source appeared since.
        self._published_causes: frozenset[Cause] = frozenset()
        self._published_selection = ''
        self._speed_cap: float | None = None
        self._zones: list[KeepOutZone] = list(config.keep_out_zones)
        self._plan_running = False
        self._plan_delegate = ''
        self._last_output = ZERO
        self._last_time = now
        self._last_active_source = ''
        self._source_lost: Stop | None = None
        self._canceled: Stop | None = None

    # ----- lifecycle -------------------------------------------------------------------------
    def activate(self, now: float) -> None:
        """Start forwarding valid commands (inputs still have to be fresh)."""
        self._active = True
        self._last_time = now

    def deactivate(self) -> None:
        """Stop forwarding: every later update gives zero."""
        self._active = False

    # ----- inputs ----------------------------------------------------------------------------
    def command(
        self,
        source: str,
        linear: tuple[float, float, float],
        angular: tuple[float, float, float],
        now: float,
    ) -> str:
        """Record a velocity command from ``source``; return why it was refused, or ``''``.

        A refused command replaces the source's previous one (never "hold last"): the source
        stays in control and commands zero until it sends a valid command again.
        """
        state = self._sources.get(source)
        if state is None:
            return f'unknown command source {source!r}'
        self._observe_time(now)
        reason = self._check_twist(linear, angular)
        state.stamp = now
        if reason:
            state.command, state.invalid = None, reason
        else:
            state.command, state.invalid = Velocity(linear[0], angular[2]), ''
        return reason

    def plan_command(self, velocity: Velocity | None, now: float) -> str:
        """Record the running plan step's command; ``None`` once the plan stops commanding."""
        self._observe_time(now)
        state = self._sources[PLAN_SOURCE]
        if velocity is None:
            state.command, state.stamp, state.invalid = None, -math.inf, ''
            return ''
        return self.command(
            PLAN_SOURCE, (velocity.linear, 0.0, 0.0), (0.0, 0.0, velocity.angular), now
        )

    def delegate_plan_motion(self, source: str) -> None:
        """Let the running step's motion come from command source ``source`` (``''``: stop).

        A ``navigate_to`` step that drives through Nav2 hands the wheel to Nav2's controller,
        whose output arrives on a configured source. That source's commands then count as plan
        motion, at plan priority, with the source's own timeout, and every rule still applies.
        """
        if source and source not in self._sources:
            raise ValueError(f'unknown command source {source!r}')
        self._plan_delegate = source

    def set_plan_running(self, running: bool, now: float) -> None:
        """Whether a plan is executing: a running plan whose step falls silent is a stop cause.

        When a plan ends, what it changed ends with it: its speed cap and its keep-out zones.
        """
        self._plan_running = running
        if not running:
            self._plan_delegate = ''
            self.plan_command(None, now)
            self._speed_cap = None
            self._zones = list(self.config.keep_out_zones)
            if self._last_active_source == PLAN_SOURCE:
                self._last_active_source = ''  # a finished plan is not a stale source

    def cancel_plan(self, now: float) -> None:
        """End the running plan and stop at once (no ramp): a cancel means stop now."""
        self.set_plan_running(False, now)
        self._canceled = Stop(Cause.PLAN_CANCELED, False, 'plan canceled', now)

    def add_keep_out_zone(self, zone: KeepOutZone) -> None:
        """Enforce one more keep-out zone until the running plan ends (``reroute``)."""
        self._zones.append(zone)

    @property
    def keep_out_zones(self) -> tuple[KeepOutZone, ...]:
        """The keep-out zones in force now (configured, and those the running plan added)."""
        return tuple(self._zones)

    def pose(self, now: float) -> Pose2D | None:
        """The latest pose if it is fresh, else ``None``."""
        if self._pose is None or now - self._pose_stamp > self.config.limits.odom_timeout:
            return None
        return self._pose

    def invariant_active(self, now: float) -> str:
        """Describe the safety invariant that forbids motion now, or ``''`` when none does."""
        latched = [stop for stop in self.stops(now) if stop.latched]
        return '; '.join(stop.detail for stop in latched)

    def set_speed_cap(self, cap: float | None) -> None:
        """Cap the forward speed (``slow_down``); ``None`` lifts the cap."""
        if cap is not None and (not math.isfinite(cap) or cap < 0):
            cap = 0.0
        self._speed_cap = cap

    def heartbeat(self, stamp: float | None, now: float) -> str:
        """Record a supervisor heartbeat stamped ``stamp``; return why it was refused, or ``''``.

        A missing or zero stamp (``ros2 topic pub`` sends zero unless told ``--stamp``), a stamp
        from further in the future than the allowed clock skew, or one already older than the
        timeout does not count.
        """
        self._observe_time(now)
        limits = self.config.limits
        if stamp is None or not math.isfinite(stamp) or stamp <= 0.0:
            return 'heartbeat stamp is zero or missing: stamp it with the current time'
        if stamp > now + limits.max_clock_skew:
            return (
                f'heartbeat stamp is {stamp - now:.3f} s ahead of the gate clock (allowed '
                f'max_clock_skew {limits.max_clock_skew:g} s): are both on the same clock?'
            )
        if now - stamp > limits.heartbeat_timeout:
            return (
                f'heartbeat stamp is {now - stamp:.3f} s old, beyond heartbeat_timeout '
                f'{limits.heartbeat_timeout:g} s'
            )
        self._heartbeat = max(self._heartbeat, min(stamp, now))
        return ''

    def estop(self, engaged: bool, now: float) -> None:
        """Record the e-stop state (true = engaged). Engaging latches until an operator reset."""
        self._observe_time(now)
        self._estop_heard = now
        self._estop_engaged = bool(engaged)
        if self._estop_engaged:
            self._latch(Cause.ESTOP, 'e-stop engaged', now)

    def person_in_zone(self, present: bool, now: float) -> None:
        """Record whether a person is inside the protective zone; presence latches."""
        self._observe_time(now)
        self._person_heard = now
        self._person = bool(present)
        if self._person:
            self._latch(Cause.PERSON_IN_ZONE, 'person inside the protective zone', now)

    def odometry(self, pose: Pose2D, now: float) -> None:
        """Record the robot's pose and speeds; a non-finite pose counts as no pose."""
        self._observe_time(now)
        values = (pose.x, pose.y, pose.yaw, pose.linear, pose.angular)
        if not all(math.isfinite(v) for v in values):
            self._pose, self._pose_stamp = None, -math.inf
            return
        self._pose, self._pose_stamp = pose, now
        for zone in self._zones:
            if point_in_polygon(pose.x, pose.y, zone.polygon):
                self._latch(
                    Cause.KEEP_OUT_ZONE,
                    f'robot at ({pose.x:.2f}, {pose.y:.2f}) is inside keep-out zone {zone.name}',
                    now,
                )

    def obstacle_distance(self, distance: float | None, now: float) -> None:
        """Record the distance (m) to the nearest obstacle ahead; ``None``: an invalid reading.

        Use :func:`range_to_distance` to read a ``sensor_msgs/Range``. An invalid reading caps
        forward motion to zero until a valid one arrives, as Nav2's collision monitor treats an
        invalid source: a sensor that cannot tell is not a clear path.
        """
        self._observe_time(now)
        valid = distance is not None and math.isfinite(distance) and distance >= 0.0
        self._obstacle = distance if valid else None
        self._obstacle_stamp = now
        self._obstacle_live = True

    def clock(self, steady: float, now: float) -> None:
        """Watch the gate clock against a steady clock (call at the output timer's rate).

        Under ``use_sim_time`` the gate clock is ``/clock``; if it stops, nothing would ever go
        stale, so a clock that has not advanced for ``clock_timeout`` of steady time is a stop
        cause of its own. Only steady times are compared with steady times here.
        """
        if self._clock_advanced is None or now != self._clock_value:
            self._clock_value, self._clock_advanced = now, steady
        self._clock_stalled = steady - self._clock_advanced > self.config.limits.clock_timeout

    @property
    def clock_stalled(self) -> bool:
        """Whether the clock watchdog finds the gate clock stopped (a ``CLOCK_STALE`` stop)."""
        return self._clock_stalled

    @property
    def active(self) -> bool:
        """Whether the gate is active (its lifecycle state), not whether motion is allowed."""
        return self._active

    def rogue_publishers(self, description: str, now: float) -> None:
        """Report other publishers on an actuator topic (empty when there are none)."""
        self._rogue = bool(description)
        if self._rogue:
            self._latch(Cause.ROGUE_PUBLISHER, description, now)

    def latch_fault(self, cause: Cause, detail: str, now: float) -> None:
        """Latch a stop that only an operator reset clears (internal errors, device faults)."""
        self._latch(cause, detail, now)

    def reset(self, operator_id: str, now: float) -> tuple[bool, str, tuple[Stop, ...]]:
        """Clear latched stops whose cause is gone, for an identified operator.

        Returns (success, message, causes still present). Nothing is cleared unless every latched
        cause is gone: a partial reset would leave an operator believing the robot is clear.
        """
        if not operator_id.strip():
            return False, 'operator_id is empty: a reset needs an identified operator', ()
        remaining = tuple(
            stop for stop in self._latched.values() if self._still_present(stop, now)
        )
        if remaining:
            causes = ', '.join(f'{s.cause.name.lower()} ({s.detail})' for s in remaining)
            return False, f'cause still present: {causes}', remaining
        if not self._latched:
            return True, 'nothing to reset', ()
        cleared = ', '.join(cause.name.lower() for cause in self._latched)
        self._latched.clear()
        return True, f'cleared {cleared} for operator {operator_id}', ()

    # ----- output ----------------------------------------------------------------------------
    def stops(self, now: float) -> tuple[Stop, ...]:
        """Every cause that holds the robot stopped at ``now``."""
        self._observe_time(now)
        limits = self.config.limits
        stops: list[Stop] = []
        if not self._active:
            stops.append(Stop(Cause.NOT_ACTIVE, False, 'gate is not active', now))
        if limits.estop_heartbeat_required and now - self._estop_heard > limits.estop_timeout:
            self._latch(
                Cause.ESTOP,
                f'no e-stop message for {limits.estop_timeout:.2f} s (counts as engaged)',
                now,
            )
        if limits.estop_required and self._estop_heard == -math.inf:
            stops.append(
                Stop(Cause.ESTOP, False, 'e-stop not heard since start (counts as engaged)', now)
            )
        if limits.person_signal_required and self._person_heard == -math.inf:
            stops.append(
                Stop(
                    Cause.PERSON_IN_ZONE,
                    False,
                    'person signal not heard since start (counts as a person in the zone)',
                    now,
                )
            )
        if self._clock_stalled:
            stops.append(
                Stop(
                    Cause.CLOCK_STALE,
                    False,
                    f'gate clock has not advanced for {limits.clock_timeout:.2f} s '
                    '(is /clock still published?)',
                    now,
                )
            )
        stops.extend(
            dataclasses.replace(stop, present=self._still_present(stop, now))
            for stop in self._latched.values()
        )
        if self._canceled is not None:
            if now - self._canceled.since <= self.config.period:
                stops.append(self._canceled)
            else:
                self._canceled = None
        if limits.require_heartbeat and now - self._heartbeat > limits.heartbeat_timeout:
            stops.append(
                Stop(
                    Cause.HEARTBEAT_STALE,
                    False,
                    f'no supervisor heartbeat within {limits.heartbeat_timeout:.2f} s',
                    now,
                )
            )
        needs_pose = bool(self._zones) or self._plan_running
        if needs_pose and now - self._pose_stamp > limits.odom_timeout:
            stops.append(Stop(Cause.ODOMETRY_STALE, False, 'pose unknown: odometry is stale', now))
        plan = self._sources[PLAN_SOURCE]
        if self._plan_running and now - plan.stamp > plan.timeout:
            stops.append(
                Stop(
                    Cause.PLAN_STEP_STALE,
                    False,
                    f'running plan step silent for more than {plan.timeout:.2f} s',
                    now,
                )
            )
        return tuple(stops)

    def update(self, now: float) -> GateOutput:
        """Compute the command to publish at ``now`` and remember it for the ramp limits."""
        try:
            return self._update(now)
        except Exception as error:  # any fault on the path means stop
            self._latch(Cause.INTERNAL_ERROR, f'gate error: {error!r}', now)
            self._last_output, self._last_time = ZERO, now
            return self._output(ZERO, GateState.LATCHED, '', tuple(self._latched.values()), now)

    def changed_since_update(self, now: float) -> bool:
        """Whether a new stop cause or another source appeared since the last :meth:`update`.

        Staleness is a matter of time, not of an input arriving: checked between the output
        ticks, a source that goes silent is noticed within half a period, not a whole one.
        """
        causes = {stop.cause for stop in self.stops(now)}
        return bool(causes - self._published_causes) or self._select(now)[0] != (
            self._published_selection
        )

    def _update(self, now: float) -> GateOutput:
        stops = list(self.stops(now))
        name, source = self._select(now)
        self._published_selection = name
        if name:
            self._last_active_source, self._source_lost = name, None
        elif self._last_active_source:
            lost = self._last_active_source
            timeout = self._sources[lost].timeout
            if lost == PLAN_SOURCE and self._plan_delegate:
                lost = f'{PLAN_SOURCE} (through {self._plan_delegate})'
                timeout = self._sources[self._plan_delegate].timeout
            self._source_lost = Stop(
                Cause.SOURCE_STALE,
                False,
                f'source {lost} silent for more than {timeout:.2f} s',
                now,
            )
            self._last_active_source = ''
        if self._source_lost is not None and not name:
            stops.append(self._source_lost)
        if source is not None and source.invalid:
            stops.append(Stop(Cause.INVALID_COMMAND, False, f'{name}: {source.invalid}', now))
        target = source.command if source is not None and source.command is not None else ZERO
        if not stops:
            target, zone_stop = self._keep_out(target, now)
            if zone_stop is not None:
                stops.append(zone_stop)
        if stops:
            # Stop causes act at once: no ramp, no last command held.
            command = ZERO
            latched = any(stop.latched for stop in stops)
            state = GateState.LATCHED if latched else GateState.STOPPING
            if not self._active:
                state = GateState.INACTIVE
        else:
            command = self._obstacle_capped(self._ramp(self._capped(target, now), now), now)
            if name == PLAN_SOURCE:
                state = GateState.EXECUTING_PLAN
            elif name:
                state = GateState.FORWARDING
            else:
                state = GateState.IDLE if command.is_zero else GateState.STOPPING
        self._last_output, self._last_time = command, now
        self._published_causes = frozenset(stop.cause for stop in stops)
        # While stopped, no source is forwarded, whichever one is still talking.
        return self._output(command, state, '' if stops else name, tuple(stops), now)

    # ----- helpers ---------------------------------------------------------------------------
    def _select(self, now: float) -> tuple[str, _Source | None]:
        best: tuple[str, _Source | None] = ('', None)
        for name, source in self._sources.items():
            if name == PLAN_SOURCE and self._plan_delegate:
                source = self._delegated(source)
            if now - source.stamp > source.timeout or source.stamp > now:
                continue
            if source.command is None and not source.invalid:
                continue
            if best[1] is None or source.priority > best[1].priority:
                best = (name, source)
        return best

    def _delegated(self, plan: _Source) -> _Source:
        """The plan source while its motion comes from another source (see delegate_...)."""
        delegate = self._sources[self._plan_delegate]
        return _Source(
            plan.priority, delegate.timeout, delegate.command, delegate.stamp, delegate.invalid
        )

    def _check_twist(
        self, linear: tuple[float, float, float], angular: tuple[float, float, float]
    ) -> str:
        values = (*linear, *angular)
        if len(values) != 6 or not all(isinstance(v, (int, float)) for v in values):
            return 'malformed command'
        if not all(math.isfinite(v) for v in values):
            return f'non-finite value in command {values}'
        limits = self.config.limits
        if abs(linear[0]) > limits.max_linear_speed:
            return f'linear.x {linear[0]:.3f} m/s beyond the limit {limits.max_linear_speed} m/s'
        if abs(angular[2]) > limits.max_angular_speed:
            return (
                f'angular.z {angular[2]:.3f} rad/s beyond the limit '
                f'{limits.max_angular_speed} rad/s'
            )
        return ''

    def _caps(self, now: float) -> tuple[float, float, float]:
        """Speed caps in force: (forward, backward, angular)."""
        limits = self.config.limits
        forward = backward = limits.max_linear_speed
        if self._speed_cap is not None:
            forward = backward = min(forward, self._speed_cap)
        obstacle_cap, _ = self._obstacle_cap(now)
        if obstacle_cap is not None:
            forward = min(forward, obstacle_cap)
        return forward, backward, limits.max_angular_speed

    def _obstacle_cap(self, now: float) -> tuple[float | None, str]:
        """The forward-speed cap the obstacle distance sets (``None``: none), and why.

        Braking-distance cap: stop before the margin at the assumed deceleration. The obstacle
        is ahead, so it caps forward motion only. A source that has been heard (or is required)
        and is now stale or invalid caps forward motion to zero: fail closed.
        """
        limits = self.config.limits
        if not self._obstacle_live:
            return None, ''
        if now - self._obstacle_stamp > limits.obstacle_timeout or self._obstacle_stamp > now:
            heard = 'never heard' if self._obstacle_stamp == -math.inf else 'stale'
            return 0.0, f'obstacle distance {heard}: forward motion stopped'
        if self._obstacle is None:
            return 0.0, 'obstacle distance reading invalid: forward motion stopped'
        room = max(0.0, self._obstacle - limits.obstacle_margin)
        cap = math.sqrt(2.0 * limits.braking_decel * room)
        if cap >= limits.max_linear_speed:
            return cap, ''
        return cap, f'obstacle at {self._obstacle:.2f} m: forward speed capped at {cap:.2f} m/s'

    def _capped(self, target: Velocity, now: float) -> Velocity:
        forward, backward, angular = self._caps(now)
        return Velocity(
            max(-backward, min(forward, target.linear)),
            max(-angular, min(angular, target.angular)),
        )

    def _obstacle_capped(self, command: Velocity, now: float) -> Velocity:
        """Apply the braking-distance cap after the ramp: it binds at once, never ramped down.

        A slow-down is a normal stop and ramps; an obstacle that appears closer than the robot
        can stop from its current speed is not, and the cap must hold from the first output.
        """
        cap, _ = self._obstacle_cap(now)
        if cap is None:
            return command
        return Velocity(min(command.linear, cap), command.angular)

    def _ramp(self, target: Velocity, now: float) -> Velocity:
        limits = self.config.limits
        dt = min(max(now - self._last_time, 0.0), self.config.period)
        last = self._last_output
        linear = _ramp_axis(
            last.linear, target.linear, limits.max_linear_accel * dt, limits.max_linear_decel * dt
        )
        angular_step = limits.max_angular_accel * dt
        angular = _ramp_axis(last.angular, target.angular, angular_step, angular_step)
        return Velocity(linear, angular)

    def _keep_out(self, target: Velocity, now: float) -> tuple[Velocity, Stop | None]:
        """Refuse motion whose braking path would enter a keep-out zone."""
        if not self._zones or target.is_zero or self._pose is None:
            return target, None
        limits = self.config.limits
        speed = abs(target.linear)
        reach = speed * self.config.period + speed * speed / (2.0 * limits.braking_decel)
        reach += limits.obstacle_margin if speed > 0 else 0.0
        direction = 1.0 if target.linear >= 0 else -1.0
        x = self._pose.x + direction * reach * math.cos(self._pose.yaw)
        y = self._pose.y + direction * reach * math.sin(self._pose.yaw)
        # The whole braking path counts, not its end: a thin zone in between is still entered.
        for zone in self._zones:
            if segment_enters_polygon((self._pose.x, self._pose.y), (x, y), zone.polygon):
                detail = f'motion would enter keep-out zone {zone.name} within {reach:.2f} m'
                return ZERO, Stop(Cause.KEEP_OUT_ZONE, False, detail, now)
        return target, None

    def _latch(self, cause: Cause, detail: str, now: float) -> None:
        if cause not in self._latched:
            self._latched[cause] = Stop(cause, True, detail, now)

    def _still_present(self, stop: Stop, now: float) -> bool:
        limits = self.config.limits
        if stop.cause is Cause.ESTOP:
            lapsed = (
                limits.estop_heartbeat_required and now - self._estop_heard > limits.estop_timeout
            )
            return self._estop_engaged or lapsed
        if stop.cause is Cause.PERSON_IN_ZONE:
            return self._person
        if stop.cause is Cause.ROGUE_PUBLISHER:
            return self._rogue
        if stop.cause is Cause.KEEP_OUT_ZONE:
            if self._pose is None or now - self._pose_stamp > limits.odom_timeout:
                return True  # pose unknown: the robot may still be inside
            return any(
                point_in_polygon(self._pose.x, self._pose.y, zone.polygon) for zone in self._zones
            )
        return False

    def _observe_time(self, now: float) -> None:
        """Time jumping backwards (a sim clock reset) makes every input stale: fail closed."""
        if now < self._last_time - _BACKWARD_JUMP:
            for source in self._sources.values():
                source.command, source.stamp, source.invalid = None, -math.inf, ''
            self._heartbeat = self._estop_heard = self._pose_stamp = -math.inf
            self._person_heard = self._obstacle_stamp = -math.inf
            self._last_output, self._last_time = ZERO, now

    def _output(
        self, command: Velocity, state: GateState, source: str, stops: tuple[Stop, ...], now: float
    ) -> GateOutput:
        forward_cap, _, angular_cap = self._caps(now)
        _, obstacle_reason = self._obstacle_cap(now)
        limits = self.config.limits
        capped = self._speed_cap is not None and self._speed_cap < limits.max_linear_speed
        return GateOutput(
            command=command,
            state=state,
            active_source=source,
            stops=stops,
            max_linear_speed=forward_cap,
            max_angular_speed=angular_cap,
            estop_engaged=self._estop_engaged
            or (limits.estop_required and self._estop_heard == -math.inf),
            person_in_zone=self._person
            or (limits.person_signal_required and self._person_heard == -math.inf),
            heartbeat_ok=not limits.require_heartbeat
            or now - self._heartbeat <= limits.heartbeat_timeout,
            speed_limit_reason=obstacle_reason
            or (f'slow_down: {self._speed_cap:g} m/s' if capped else ''),
        )


def _ramp_axis(last: float, target: float, accel_step: float, decel_step: float) -> float:
    """One ramp step: speed up by at most ``accel_step``, slow down by at most ``decel_step``."""
    if last * target < 0:
        return _step_toward(last, 0.0, decel_step)  # reversing: brake to zero first
    if abs(target) > abs(last):
        return _step_toward(last, target, accel_step)
    return _step_toward(last, target, decel_step)


def _step_toward(current: float, target: float, max_step: float) -> float:
    if abs(target - current) <= max_step:
        return target
    return current + math.copysign(max_step, target - current)


def range_to_distance(reading: float, min_range: float, max_range: float) -> float | None:
    """The obstacle distance a ``sensor_msgs/Range`` reading means (REP 117), ``None`` if invalid.

    ``-Inf`` is an object closer than ``min_range``: it counts as one at ``min_range``. ``+Inf``
    is nothing detected within ``max_range``: clear up to ``max_range``, no further (the sensor
    does not see beyond). NaN, other readings outside ``[min_range, max_range]`` and a sensor
    whose own limits make no sense are invalid.
    """
    limits_ok = math.isfinite(min_range) and math.isfinite(max_range) and min_range >= 0
    if not limits_ok or min_range > max_range or math.isnan(reading):
        return None
    if reading == -math.inf:
        return min_range
    if reading == math.inf:
        return max_range
    return reading if min_range <= reading <= max_range else None
