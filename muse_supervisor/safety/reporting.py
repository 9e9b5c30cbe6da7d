"""What the gate says about itself: its status, its log, and how often it publishes on input.

When ``gate_status`` goes out, what the log says, and how often ``cmd_vel`` may be published on
input. Kept beside the rules so the node only publishes what this decides: the log tells one
story in the order things happen (a stop, then what it was, then motion again), a line per change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from muse_supervisor.safety.gate import Cause, GateOutput, GateState, Stop

STATUS_PERIOD = 1.0  # s between gate_status messages when nothing changes


@dataclass(frozen=True)
class StatusReport:
    """Whether to publish ``gate_status`` now, and a log line (at most one of the two levels)."""

    publish: bool
    warning: str = ''
    info: str = ''


class StatusReporter:
    """Publishes status on change and every :data:`STATUS_PERIOD`; logs each change once."""

    def __init__(self, period: float = STATUS_PERIOD) -> None:
        self._period = period
        self._last_key: tuple[object, ...] = ()
        self._last_time = -math.inf
        self._last_story: tuple[object, ...] | None = None

    def report(self, output: GateOutput, now: float, force: bool = False) -> StatusReport:
        """What to do about ``output``, the result of the gate's latest update at ``now``."""
        key = (
            output.state,
            output.active_source,
            tuple((s.cause, s.latched, s.present) for s in output.stops),
            output.speed_limit_reason,
        )
        publish = force or key != self._last_key or now - self._last_time >= self._period
        if publish:
            self._last_key, self._last_time = key, now
        # The lifecycle's own log says when the gate is inactive: not a stop to report.
        stops = [s for s in output.stops if s.cause is not Cause.NOT_ACTIVE]
        story = (
            output.state,
            output.active_source,
            frozenset((s.cause, s.latched, s.present) for s in stops),
            output.speed_limit_reason,
        )
        if story == self._last_story or output.state is GateState.INACTIVE:
            return StatusReport(publish)
        if not stops and output.state is GateState.STOPPING and not output.speed_limit_reason:
            return StatusReport(publish)  # ramping down to a standstill: nothing new to say
        self._last_story = story
        if stops:
            return StatusReport(publish, warning=f'stopped ({_describe(stops)})')
        if output.state is GateState.STOPPING:
            return StatusReport(publish)
        text = {
            GateState.FORWARDING: f'forwarding {output.active_source}',
            GateState.EXECUTING_PLAN: 'forwarding plan motion',
            GateState.IDLE: 'idle: no source commanding motion',
        }.get(output.state, output.state.name.lower())
        if output.speed_limit_reason:
            text += f' ({output.speed_limit_reason})'
        return StatusReport(publish, info=text)


def _describe(stops: list[Stop]) -> str:
    parts = []
    for stop in stops:
        text = f'{stop.cause.name.lower()}: {stop.detail}'
        if stop.latched:
            text += ' [latched' + ('' if stop.present else '; cause gone, reset needed') + ']'
        parts.append(text)
    return '; '.join(parts)


class TokenBucket:
    """At most ``rate`` events per second on average, in bursts of up to ``burst``.

    Publishing ``cmd_vel`` on input as well as on the timer keeps the gate's added latency low;
    this keeps a flooding source from flooding ``cmd_vel``: what it holds back goes out on the
    next timer tick.
    """

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, -math.inf

    def take(self, now: float) -> bool:
        """Spend a token if one is available at ``now``."""
        elapsed = max(0.0, now - self.stamp) if math.isfinite(self.stamp) else math.inf
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
