"""One robot's perception core: every input in, incidents and context bundles out.

The ROS node converts each message into the plain types of ``alarms`` and ``signals`` and calls
the matching ``on_*`` method; a scenario replay calls the same methods with recorded inputs, so
live and offline runs share one code path. Every ``on_*`` method returns the incidents that
changed (to publish); :meth:`PerceptionCore.tick` advances time (hysteresis, verification,
staleness, odometry silence) and is called from the node's timer. Lifecycle calls go to
:attr:`PerceptionCore.tracker`.
"""

from __future__ import annotations

from collections.abc import Iterable

from muse_supervisor.domain.evidence import Observation
from muse_supervisor.domain.incidents import IncidentAction, IncidentSnapshot
from muse_supervisor.perception.alarms import (
    Alarm,
    AlarmInterpreter,
    DiagnosticStatus,
    LogLine,
    VdaState,
)
from muse_supervisor.perception.context import ContextBuilder, ContextBundle, ContextSettings
from muse_supervisor.perception.incidents import IncidentTracker
from muse_supervisor.perception.rules import PerceptionRules
from muse_supervisor.perception.signals import (
    MissionSnapshot,
    estop_observation,
    payload_observation,
    person_observation,
)


class PerceptionCore:
    """Alarm rules, numeric monitors, the incident tracker and the context builder of one robot."""

    def __init__(
        self,
        rules: PerceptionRules,
        robot_id: str = 'robot',
        context: ContextSettings | None = None,
    ) -> None:
        self.rules = rules
        self.alarms = AlarmInterpreter(rules.alarms, robot_id)
        self.tracker = IncidentTracker(rules.incidents, robot_id)
        self.context_builder = ContextBuilder(context)
        self._mission_monitor = rules.signals.mission()
        self._battery = rules.signals.battery()
        self._odom = rules.signals.odom()
        self._mission: MissionSnapshot | None = None

    # Inputs ------------------------------------------------------------------------------

    def on_alarm(self, alarm: Alarm, now: float) -> list[IncidentSnapshot]:
        """The package's own ``Alarm`` message."""
        self.tracker.note_input(alarm.stamp)
        return self._feed(self.alarms.alarm(alarm), now)

    def on_diagnostics(
        self, statuses: Iterable[DiagnosticStatus], now: float
    ) -> list[IncidentSnapshot]:
        """The statuses of one ``/diagnostics`` array (OK ones count as data too)."""
        statuses = list(statuses)
        for status in statuses:
            self.tracker.note_input(status.stamp)
        return self._feed(self.alarms.diagnostics(statuses), now)

    def on_log(self, line: LogLine, now: float) -> list[IncidentSnapshot]:
        """One ``/rosout`` line (kept for the context whatever its level)."""
        self.tracker.note_input(line.stamp)
        self.context_builder.add_log(line)
        return self._feed(self.alarms.log(line), now)

    def on_vda_state(self, state: VdaState, now: float) -> list[IncidentSnapshot]:
        """A VDA 5050 state message."""
        self.tracker.note_input(state.stamp)
        return self._feed(self.alarms.vda_state(state), now)

    def on_mission(self, mission: MissionSnapshot, now: float) -> list[IncidentSnapshot]:
        """A ``MissionState``."""
        self.tracker.note_input(mission.stamp)
        self._mission = mission
        self.context_builder.set_mission(mission)
        return self._feed(self._mission_monitor.observe(mission), now)

    def on_battery(
        self, percentage: float, power_supply_status: int, stamp: float, now: float
    ) -> list[IncidentSnapshot]:
        """A ``sensor_msgs/BatteryState`` (percentage in [0, 1], power_supply_status)."""
        self.tracker.note_input(stamp)
        return self._feed(self._battery.observe(percentage, power_supply_status, stamp), now)

    def on_estop(self, engaged: bool, stamp: float, now: float) -> list[IncidentSnapshot]:
        """The e-stop topic."""
        self.tracker.note_input(stamp)
        return self._feed([estop_observation(engaged, stamp)], now)

    def on_person(self, present: bool, stamp: float, now: float) -> list[IncidentSnapshot]:
        """A safety scanner's protective-zone signal."""
        self.tracker.note_input(stamp)
        return self._feed([person_observation(present, stamp)], now)

    def on_odom(self, stamp: float, now: float) -> list[IncidentSnapshot]:
        """An odometry message (only its stamp matters here)."""
        self.tracker.note_input(stamp)
        return self._feed(self._odom.heard(stamp), now)

    def on_observation(self, observation: Observation, now: float) -> list[IncidentSnapshot]:
        """An analyzer result (camera); labels are also checked against the mission payload."""
        self.tracker.note_input(observation.stamp)
        return self._feed([observation, *payload_observation(observation, self._mission)], now)

    def on_derived(self, observation: Observation, now: float) -> list[IncidentSnapshot]:
        """An observation about the inputs themselves (a camera stream that stopped).

        Unlike :meth:`on_observation` it is not data from the robot, so it does not keep a
        silent robot's incidents from showing stale.
        """
        return self._feed([observation], now)

    def tick(self, now: float) -> list[IncidentSnapshot]:
        """Advance time: odometry silence, hysteresis, verification deadlines, staleness."""
        changed = self._feed(self._odom.check(now), now)
        return _latest([*changed, *self.tracker.tick(now)])

    def apply(
        self, action: IncidentAction, incident_id: str, actor: str, reason: str, now: float
    ) -> IncidentSnapshot:
        """One lifecycle step asked from outside (reasoner, HMI, executor).

        Raises :class:`~muse_supervisor.perception.incidents.UnknownIncidentError` for an id
        it does not keep, ``IllegalTransitionError`` for a step the state does not allow, and
        ``ValueError`` for a missing actor, dismissal reason or assignee.
        """
        tracker = self.tracker
        if action is IncidentAction.ACKNOWLEDGE:
            return tracker.acknowledge(incident_id, actor, now)
        if action is IncidentAction.PROPOSE:
            return tracker.propose(incident_id, now, actor=actor, reason=reason)
        if action is IncidentAction.APPROVE:
            return tracker.approve(incident_id, actor, now, reason=reason)
        if action is IncidentAction.START_EXECUTION:
            return tracker.start_execution(incident_id, now, actor=actor)
        if action is IncidentAction.DISMISS:
            return tracker.dismiss(incident_id, actor, reason, now)
        if action is IncidentAction.ASSIGN:
            return tracker.assign(incident_id, reason, actor, now)
        succeeded = action is IncidentAction.EXECUTION_SUCCEEDED
        return tracker.execution_finished(incident_id, now, succeeded, reason, actor=actor)

    # Outputs -----------------------------------------------------------------------------

    def context(self, incident_id: str, now: float) -> ContextBundle:
        """The reasoner's bundle for one incident."""
        return self.context_builder.build(self.tracker.snapshot(incident_id, now), now)

    def _feed(self, observations: Iterable[Observation], now: float) -> list[IncidentSnapshot]:
        changed: list[IncidentSnapshot] = []
        for observation in observations:
            self.context_builder.add_observation(observation)
            changed.extend(self.tracker.observe(observation, now))
        return _latest(changed)


def _latest(snapshots: Iterable[IncidentSnapshot]) -> list[IncidentSnapshot]:
    """One snapshot per incident, the last one given, in the order incidents first appear."""
    by_id: dict[str, IncidentSnapshot] = {}
    for snapshot in snapshots:
        by_id.pop(snapshot.id, None)
        by_id[snapshot.id] = snapshot
    return list(by_id.values())
