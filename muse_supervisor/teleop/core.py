"""What the teleop commands, without ROS: keys, steps, limits and scripted drives.

Everything here takes the time as an argument, so tests drive it without a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import Enum


class TeleopError(ValueError):
    """A teleop option cannot be used as given; the message says what to change."""


class Key(Enum):
    """What a key press asks for."""

    FASTER = 'faster'
    SLOWER = 'slower'
    LEFT = 'left'
    RIGHT = 'right'
    STOP = 'stop'
    QUIT = 'quit'


# Letters (either case) and the terminal's arrow-key escape sequences.
KEYMAP: dict[str, Key] = {
    'w': Key.FASTER,
    '\x1b[A': Key.FASTER,
    'x': Key.SLOWER,
    '\x1b[B': Key.SLOWER,
    'a': Key.LEFT,
    '\x1b[D': Key.LEFT,
    'd': Key.RIGHT,
    '\x1b[C': Key.RIGHT,
    's': Key.STOP,
    ' ': Key.STOP,
    'q': Key.QUIT,
    '\x03': Key.QUIT,  # Ctrl-C while the terminal is in raw mode
    '\x04': Key.QUIT,  # Ctrl-D
}

HELP = (
    'keys: w or Up faster, x or Down slower (then reverse), a or Left turn left, '
    'd or Right turn right, s or space stop, q or Ctrl-C quit'
)


def parse_keys(text: str) -> list[Key]:
    """The key presses in ``text`` as read from a raw terminal; unknown keys are skipped."""
    keys = []
    i = 0
    while i < len(text):
        sequence = text[i : i + 3]
        if sequence in KEYMAP:
            keys.append(KEYMAP[sequence])
            i += 3
            continue
        key = KEYMAP.get(text[i].lower())
        if key is not None:
            keys.append(key)
        i += 1
    return keys


@dataclass(frozen=True)
class Velocity:
    """A velocity command: forward speed (m/s) and turn rate (rad/s, positive to the left)."""

    linear: float = 0.0
    angular: float = 0.0


@dataclass(frozen=True)
class Limits:
    """The largest speeds the teleop commands; the gate refuses (not clamps) anything above its."""

    linear: float
    angular: float

    def __post_init__(self) -> None:
        for name, value in (('linear', self.linear), ('angular', self.angular)):
            if not (math.isfinite(value) and value > 0):
                raise TeleopError(f'maximum {name} speed must be a positive number, got {value}')

    def narrowed(self, linear: float, angular: float) -> Limits:
        """These limits, lowered to the gate's limits in force where those are known (> 0)."""

        def lower(own: float, gate: float) -> float:
            return min(own, gate) if math.isfinite(gate) and gate > 0 else own

        return Limits(lower(self.linear, linear), lower(self.angular, angular))

    def clamp(self, velocity: Velocity) -> Velocity:
        """``velocity`` with each part brought within the limits."""
        return Velocity(
            max(-self.linear, min(self.linear, velocity.linear)),
            max(-self.angular, min(self.angular, velocity.angular)),
        )

    def check(self, velocity: Velocity) -> Velocity:
        """``velocity`` if it is finite and within the limits; otherwise say why not."""
        for name, value, limit, unit in (
            ('linear', velocity.linear, self.linear, 'm/s'),
            ('angular', velocity.angular, self.angular, 'rad/s'),
        ):
            if not math.isfinite(value) or abs(value) > limit:
                raise TeleopError(
                    f'--{name} {value} is outside -{limit:g}..{limit:g} {unit}: the gate refuses '
                    f'commands beyond its limits (it does not clamp them); give a smaller value '
                    f'or raise --max-{name} if the gate is configured for more'
                )
        return velocity


@dataclass(frozen=True)
class Steps:
    """How much one key press changes the command."""

    linear: float = 0.05
    angular: float = 0.2


def step(velocity: Velocity, key: Key, steps: Steps, limits: Limits) -> Velocity:
    """The command after one key press (QUIT leaves it as it is: the caller ends the drive)."""
    if key is Key.STOP:
        return Velocity()
    changes = {
        Key.FASTER: (steps.linear, 0.0),
        Key.SLOWER: (-steps.linear, 0.0),
        Key.LEFT: (0.0, steps.angular),
        Key.RIGHT: (0.0, -steps.angular),
    }
    linear, angular = changes.get(key, (0.0, 0.0))
    moved = replace(
        velocity,
        linear=round(velocity.linear + linear, 6),
        angular=round(velocity.angular + angular, 6),
    )
    return limits.clamp(moved)


@dataclass(frozen=True)
class Drive:
    """A drive that ends: the command to send, and until when (``None``: until stopped)."""

    started: float
    duration: float | None = None

    def __post_init__(self) -> None:
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise TeleopError(
                f'--duration must be a positive number of seconds, got {self.duration}'
            )

    def over(self, now: float) -> bool:
        """Whether the drive's time is up at ``now``."""
        return self.duration is not None and now - self.started >= self.duration


def status_line(state: str, source: str, causes: list[str]) -> str:
    """One line saying what the gate does with the commands, for the user at the keyboard."""
    if causes:
        return f'gate: {state}, stopped by: {", ".join(causes)}'
    if source:
        return f'gate: {state}, forwarding {source}'
    return f'gate: {state}'
