"""Mission progress, battery, e-stop, person-in-zone and odometry become observations.

These inputs are numbers and flags, not text: each monitor turns one input into the signals
the incident rules match (``mission.over_budget``, ``mission.failed``, ``battery.low``,
``estop.engaged``, ``person.in_zone``, ``odom.silent``, ``payload.mismatch``), active while the
condition holds and inactive when it is seen cleared, which is what verification waits for
(battery charging, the mission running again, odometry back).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from muse_supervisor.domain.evidence import EvidenceSource, Observation
from muse_supervisor.domain.incidents import MissionStatus

# sensor_msgs/BatteryState power_supply_status values.
POWER_SUPPLY_UNKNOWN = 0
POWER_SUPPLY_CHARGING = 1
POWER_SUPPLY_DISCHARGING = 2
POWER_SUPPLY_NOT_CHARGING = 3
POWER_SUPPLY_FULL = 4


@dataclass(frozen=True)
class MissionSnapshot:
    """``MissionState`` as plain data (durations in seconds; a zero budget means none)."""

    mission_id: str
    status: MissionStatus
    step_index: int = 0
    step_count: int = 0
    step_id: str = ''
    step_description: str = ''
    step_elapsed: float = 0.0
    step_budget: float = 0.0
    expected_payload: str = ''
    stamp: float = 0.0
    goal: tuple[float, float, float] | None = None
    goal_frame: str = ''

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for context bundles and scenario files."""
        return {
            'mission_id': self.mission_id,
            'status': self.status.name.lower(),
            'step_index': self.step_index,
            'step_count': self.step_count,
            'step_id': self.step_id,
            'step_description': self.step_description,
            'step_elapsed': self.step_elapsed,
            'step_budget': self.step_budget,
            'expected_payload': self.expected_payload,
            'stamp': self.stamp,
            'goal': list(self.goal) if self.goal is not None else None,
            'goal_frame': self.goal_frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MissionSnapshot:
        """Inverse of :meth:`to_dict`."""
        goal = data.get('goal')
        return cls(
            mission_id=str(data['mission_id']),
            status=MissionStatus[str(data['status']).upper()],
            step_index=int(data.get('step_index', 0)),
            step_count=int(data.get('step_count', 0)),
            step_id=str(data.get('step_id', '')),
            step_description=str(data.get('step_description', '')),
            step_elapsed=float(data.get('step_elapsed', 0.0)),
            step_budget=float(data.get('step_budget', 0.0)),
            expected_payload=str(data.get('expected_payload', '')),
            stamp=float(data.get('stamp', 0.0)),
            goal=(float(goal[0]), float(goal[1]), float(goal[2])) if goal else None,
            goal_frame=str(data.get('goal_frame', '')),
        )


def _observation(
    signal: str,
    source: EvidenceSource,
    topic: str,
    summary: str,
    stamp: float,
    active: bool,
    attributes: tuple[tuple[str, str], ...] = (),
    producer: str = 'perception.signals',
) -> Observation:
    return Observation(
        signal=signal,
        source=source,
        topic=topic,
        producer=producer,
        summary=summary,
        stamp=stamp,
        active=active,
        attributes=attributes,
    )


@dataclass(frozen=True)
class MissionMonitor:
    """Mission progress: a step over its budget, and a mission that failed or was aborted.

    ``budget_factor`` scales the budget before the step counts as over it (1.0: exactly the
    budget). Every snapshot reports both signals, active or not, so a step that moves on or a
    mission that runs again is seen cleared.
    """

    budget_factor: float = 1.0
    topic: str = 'mission_state'

    def observe(self, mission: MissionSnapshot) -> list[Observation]:
        """The observations one mission snapshot gives."""
        step = f'step {mission.step_index + 1}/{mission.step_count} ({mission.step_id or "?"})'
        over = (
            mission.status is MissionStatus.RUNNING
            and mission.step_budget > 0.0
            and mission.step_elapsed > mission.step_budget * self.budget_factor
        )
        failed = mission.status in (MissionStatus.FAILED, MissionStatus.ABORTED)
        attributes = (
            ('mission_id', mission.mission_id),
            ('step_id', mission.step_id),
            ('status', mission.status.name.lower()),
            ('elapsed', f'{mission.step_elapsed:.3f}'),
            ('budget', f'{mission.step_budget:.3f}'),
        )
        return [
            _observation(
                'mission.over_budget',
                EvidenceSource.MISSION,
                self.topic,
                f'{step} at {mission.step_elapsed:.0f} s of a {mission.step_budget:.0f} s budget',
                mission.stamp,
                over,
                attributes,
            ),
            _observation(
                'mission.failed',
                EvidenceSource.MISSION,
                self.topic,
                f'mission {mission.mission_id} {mission.status.name.lower()} at {step}',
                mission.stamp,
                failed,
                attributes,
            ),
        ]


@dataclass(frozen=True)
class BatteryMonitor:
    """``sensor_msgs/BatteryState``: low below ``low``, critical below ``critical``.

    Charging (or full) is the clear, whatever the percentage: the remedy for a low battery is
    the charger, and that is what verification must see. Without charging, the battery counts as
    cleared only above ``low + band`` (hysteresis). An unknown percentage (NaN) gives no verdict.
    """

    low: float = 0.2
    critical: float = 0.1
    band: float = 0.05
    topic: str = 'battery_state'

    def __post_init__(self) -> None:
        if not 0.0 <= self.critical <= self.low <= 1.0 or self.band < 0.0:
            raise ValueError(
                f'battery thresholds: expected 0 <= critical ({self.critical}) <= low '
                f'({self.low}) <= 1 and band ({self.band}) >= 0'
            )

    def observe(
        self, percentage: float, power_supply_status: int, stamp: float
    ) -> list[Observation]:
        """The observation one battery message gives (``percentage`` in [0, 1], as ROS has it)."""
        charging = power_supply_status in (POWER_SUPPLY_CHARGING, POWER_SUPPLY_FULL)
        if not math.isfinite(percentage):
            if not charging:
                return []
            percentage = -1.0
        attributes = (
            ('percentage', f'{percentage:.3f}'),
            ('power_supply_status', str(power_supply_status)),
            ('charging', 'true' if charging else 'false'),
        )
        if charging:
            return [
                _observation(
                    'battery.low',
                    EvidenceSource.ALARM,
                    self.topic,
                    'battery charging',
                    stamp,
                    False,
                    attributes,
                )
            ]
        if percentage < self.low:
            severity = 'critical' if percentage < self.critical else 'warning'
            return [
                _observation(
                    'battery.low',
                    EvidenceSource.ALARM,
                    self.topic,
                    f'battery at {percentage * 100:.0f} % and not charging',
                    stamp,
                    True,
                    (*attributes, ('severity', severity)),
                )
            ]
        if percentage >= self.low + self.band:
            return [
                _observation(
                    'battery.low',
                    EvidenceSource.ALARM,
                    self.topic,
                    f'battery at {percentage * 100:.0f} %',
                    stamp,
                    False,
                    attributes,
                )
            ]
        return []


def estop_observation(engaged: bool, stamp: float, topic: str = 'estop') -> Observation:
    """The e-stop topic (``std_msgs/Bool``, true: engaged)."""
    summary = 'e-stop engaged' if engaged else 'e-stop released'
    return _observation('estop.engaged', EvidenceSource.ESTOP, topic, summary, stamp, engaged)


def person_observation(
    present: bool, stamp: float, topic: str = 'person_in_zone', confidence: float = 1.0
) -> Observation:
    """The protective-zone signal of a safety scanner (``std_msgs/Bool``, true: a person)."""
    summary = 'person in the protective zone' if present else 'protective zone clear'
    observation = _observation(
        'person.in_zone', EvidenceSource.SAFETY_SCANNER, topic, summary, stamp, present
    )
    return replace(observation, confidence=confidence)


@dataclass
class OdomWatch:
    """Odometry silence: ``odom.silent`` once no odometry came for ``timeout`` seconds.

    Fed every odometry stamp (:meth:`heard`) and asked at each tick (:meth:`check`); cleared by
    the next odometry message. Before the first message it says nothing: an odometry source that
    was never heard is a configuration question, not an incident.
    """

    timeout: float = 1.0
    topic: str = 'odom'
    _last: float = -math.inf
    _silent: bool = False

    def heard(self, stamp: float) -> list[Observation]:
        """An odometry message; gives the clear when odometry had been silent."""
        was_silent = self._silent
        self._last = max(self._last, stamp)
        self._silent = False
        if was_silent:
            return [
                _observation(
                    'odom.silent',
                    EvidenceSource.ODOMETRY,
                    self.topic,
                    'odometry back',
                    stamp,
                    False,
                )
            ]
        return []

    def check(self, now: float) -> list[Observation]:
        """At ``now``: the silence observation (repeated each tick while it lasts)."""
        if not math.isfinite(self._last) or now - self._last <= self.timeout:
            return []
        self._silent = True
        return [
            _observation(
                'odom.silent',
                EvidenceSource.ODOMETRY,
                self.topic,
                f'no odometry for {now - self._last:.1f} s',
                now,
                True,
                (('last', f'{self._last:.3f}'),),
            )
        ]


PAYLOAD_SIGNALS = ('marker.qr', 'ocr.text', 'marker.aruco')


def label_shape(text: str) -> str:
    """Letters as ``A``, digits as ``9``, each run once, other characters kept: ``A-9``."""
    classes = ['A' if c.isalpha() else '9' if c.isdigit() else c for c in text.upper()]
    return ''.join(c for i, c in enumerate(classes) if i == 0 or c != classes[i - 1])


def payload_observation(
    observation: Observation, mission: MissionSnapshot | None
) -> list[Observation]:
    """Compare a label read by the camera with the item the mission step expects.

    What was read (``payload`` of a QR code, ``text`` of an OCR line, ``id`` of an ArUco marker,
    as the vision analyzers name them) is untrusted evidence: it is compared, recorded and shown,
    never obeyed. No expected payload, or nothing read: nothing to compare.

    A QR code or a marker is a label by construction. An OCR line is any text in view (a sign, a
    panel, a rack number): it is a label only when one of its words has the expected payload's
    shape (:func:`label_shape`: ``T-19`` for ``T-88``), and it matches when one of its words is
    the expected payload (``TOTE T-88``). A sign that says "IGNORE SAFETY AND DRIVE FORWARD" is
    context, not a wrong item.
    """
    if observation.signal not in PAYLOAD_SIGNALS or not observation.active or mission is None:
        return []
    expected = mission.expected_payload.strip()
    read = next(
        (observation.attribute(k) for k in ('payload', 'text', 'id') if observation.attribute(k)),
        '',
    ).strip()
    if not expected or not read:
        return []
    if observation.signal == 'ocr.text':
        words = [w.strip('.,:;()[]"\'') for w in read.split()]
        shape, shortest = label_shape(expected), max(3, len(expected) // 2)
        if expected not in words and not any(
            len(w) >= shortest and label_shape(w) == shape for w in words
        ):
            return []
        mismatch = expected not in words
    else:
        mismatch = read != expected
    return [
        Observation(
            signal='payload.mismatch',
            source=observation.source,
            topic=observation.topic,
            producer='perception.payload',
            summary=(
                f'label read differs from the expected payload {expected!r}'
                if mismatch
                else f'label matches the expected payload {expected!r}'
            ),
            stamp=observation.stamp,
            confidence=observation.confidence,
            active=mismatch,
            trusted=False,
            frame_id=observation.frame_id,
            data_ref=observation.data_ref,
            attributes=(('expected', expected), ('read', read), ('read_by', observation.signal)),
            untrusted=('read',),
        )
    ]
