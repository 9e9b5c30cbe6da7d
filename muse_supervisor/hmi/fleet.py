"""What the operator HMI shows, per robot: incidents, proposals, the gate, the pose, the camera.

The bridge node converts messages into plain JSON-ready dicts and hands them here; the web
server reads :meth:`FleetView.snapshot`. A robot's data carries the time it last arrived, and a
robot whose data stopped for longer than ``stale_after`` is shown *stale* with that time: an HMI
that kept showing the last good state of a robot it no longer hears would tell the operator
that all is fine when nobody knows. Thread-safe: ROS callbacks write, the server reads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Proposals kept per robot (the newest per incident, incidents that left the list dropped).
_MAX_PROPOSALS = 50
# Operator notices kept per robot.
_MAX_NOTICES = 20
# Incidents (their latest update, closed ones too) and execution outcomes kept for reports.
_MAX_HISTORY = 200


@dataclass
class Frame:
    """The latest camera frame of a robot, as JPEG for the page."""

    jpeg: bytes
    stamp: float
    width: int
    height: int


@dataclass
class RobotView:
    """Everything the HMI knows about one robot, and when it last heard from it."""

    robot_id: str
    incidents: list[dict[str, Any]] = field(default_factory=list)
    proposals: dict[str, dict[str, Any]] = field(default_factory=dict)
    gate: dict[str, Any] | None = None
    pose: dict[str, float] | None = None
    notices: list[dict[str, Any]] = field(default_factory=list)
    frame: Frame | None = None
    frame_version: int = 0
    last_data: float | None = None
    history: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    outcomes: list[dict[str, Any]] = field(default_factory=list)


class FleetView:
    """The latest of everything per robot, and a version number that grows on each change."""

    def __init__(
        self,
        robots: list[str],
        clock: Callable[[], float],
        stale_after: float = 5.0,
        world: dict[str, Any] | None = None,
    ) -> None:
        if not robots:
            raise ValueError('the HMI needs at least one robot namespace')
        self._robots = {robot: RobotView(robot) for robot in robots}
        self._clock = clock
        self.stale_after = stale_after
        self.world = world or {}
        self._lock = threading.Lock()
        self._version = 0

    @property
    def robots(self) -> list[str]:
        """The robot namespaces shown, in configuration order."""
        return list(self._robots)

    def knows(self, robot: str) -> bool:
        """Whether this HMI serves ``robot``."""
        return robot in self._robots

    # -- writers (the bridge's callbacks) -----------------------------------------------------

    def set_incidents(self, robot: str, incidents: list[dict[str, Any]]) -> None:
        """The robot's open incidents (the latched list), replacing the last."""

        def change(view: RobotView) -> None:
            view.incidents = incidents
            open_ids = {incident['id'] for incident in incidents}
            # A proposal stays while its incident is listed; the newest few of the others stay
            # for the report page.
            closed = [i for i in view.proposals if i not in open_ids]
            for incident_id in closed[: max(0, len(view.proposals) - _MAX_PROPOSALS)]:
                del view.proposals[incident_id]

        self._change(robot, change)

    def set_proposal(self, robot: str, proposal: dict[str, Any]) -> None:
        """The newest proposal for one incident."""
        self._change(robot, lambda view: view.proposals.__setitem__(proposal['incident_id'],
                                                                    proposal))  # fmt: skip

    def set_gate(self, robot: str, gate: dict[str, Any]) -> None:
        """The gate's latest status."""

        def change(view: RobotView) -> None:
            view.gate = gate

        self._change(robot, change)

    def set_pose(self, robot: str, pose: dict[str, float]) -> None:
        """The robot's pose from odometry."""

        def change(view: RobotView) -> None:
            view.pose = pose

        self._change(robot, change)

    def add_notice(self, robot: str, notice: dict[str, Any]) -> None:
        """A notice from plan execution (a request for an operator, ...)."""

        def change(view: RobotView) -> None:
            view.notices = [*view.notices, notice][-_MAX_NOTICES:]

        self._change(robot, change)

    def note_incident(self, robot: str, incident: dict[str, Any]) -> None:
        """Any update of an incident (closing ones too), kept for its report."""

        def change(view: RobotView) -> None:
            view.history.pop(incident['id'], None)
            view.history[incident['id']] = incident
            while len(view.history) > _MAX_HISTORY:
                view.history.popitem(last=False)

        self._change(robot, change)

    def add_outcome(self, robot: str, outcome: dict[str, Any]) -> None:
        """How an execution ended, kept for the report."""

        def change(view: RobotView) -> None:
            view.outcomes = [*view.outcomes, outcome][-_MAX_HISTORY:]

        self._change(robot, change)

    def report_data(self, robot: str, incident_id: str) -> dict[str, Any] | None:
        """The incident's latest update, its proposal and outcomes; ``None`` if unknown."""
        with self._lock:
            view = self._robots.get(robot)
            if view is None:
                return None
            incident = next((i for i in view.incidents if i['id'] == incident_id), None)
            incident = incident or view.history.get(incident_id)
            if incident is None:
                return None
            proposal = view.proposals.get(incident_id)
            return {
                'incident': incident,
                'proposals': [proposal] if proposal is not None else [],
                'outcomes': [o for o in view.outcomes if o['incident_id'] == incident_id],
                'frame': view.frame.jpeg if view.frame is not None else None,
            }

    def set_frame(self, robot: str, frame: Frame) -> None:
        """The latest camera frame."""

        def change(view: RobotView) -> None:
            view.frame = frame
            view.frame_version += 1

        self._change(robot, change)

    def _change(self, robot: str, change: Callable[[RobotView], None]) -> None:
        with self._lock:
            view = self._robots.get(robot)
            if view is None:
                return
            change(view)
            view.last_data = self._clock()
            self._version += 1

    # -- readers (the web server) -------------------------------------------------------------

    def version(self) -> int:
        """Grows on every change: a reader sends again only when it moved."""
        with self._lock:
            return self._version

    def frame(self, robot: str) -> Frame | None:
        """The robot's latest frame, if any."""
        with self._lock:
            view = self._robots.get(robot)
            return view.frame if view is not None else None

    def plan(self, robot: str, plan_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The proposal holding plan ``plan_id`` and that plan, or ``None``."""
        with self._lock:
            view = self._robots.get(robot)
            for proposal in view.proposals.values() if view is not None else ():
                for plan in proposal['plans']:
                    if plan['id'] == plan_id:
                        return proposal, plan
        return None

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as JSON-ready data."""
        now = self._clock()
        with self._lock:
            robots = []
            for view in self._robots.values():
                age = None if view.last_data is None else now - view.last_data
                robots.append({
                    'id': view.robot_id,
                    'stale': age is None or age > self.stale_after,
                    'last_data_age_s': age,
                    'incidents': view.incidents,
                    'proposals': list(view.proposals.values()),
                    'gate': view.gate,
                    'pose': view.pose,
                    'notices': view.notices,
                    'frame': None if view.frame is None else {
                        'version': view.frame_version, 'stamp': view.frame.stamp,
                        'width': view.frame.width, 'height': view.frame.height,
                    },
                })  # fmt: skip
            return {'version': self._version, 'stale_after_s': self.stale_after, 'robots': robots}
