"""The demo's eyes on the graph: an independent node that watches every robot of the shift.

It subscribes, per robot, to what an outside observer can see (``incidents``,
``recovery_proposals``, ``gate_status``, ``execution_outcomes``, ``estop``, ``person_in_zone``
and the gate's ``cmd_vel``) and feeds a :class:`~muse_supervisor.demo.score.ShiftScore`. With
``scripted_operator`` it also plays the shift's operator through the HMI's own HTTP API, logged
in like anyone else: once a latched stop's cause is gone (the picker left), it resets the gate,
with a reason, as the demo account. The audit trail records it like any other operator's reset.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import threading
import time
import urllib.request
from functools import partial
from typing import Any

from muse_supervisor.demo.score import ShiftScore


class DemoMonitor:
    """Watches the robots from a node of its own, spun on a thread of its own."""

    def __init__(
        self, robots: list[str], score: ShiftScore, hmi_url: str, login: tuple[str, str],
        scripted_operator: bool,
    ) -> None:  # fmt: skip
        self.robots, self.score = robots, score
        self._hmi_url, self._login = hmi_url, login
        self._scripted = scripted_operator
        self._lock = threading.Lock()
        self._node: Any = None
        self._executor: Any = None
        self._thread: threading.Thread | None = None
        self._gates: dict[str, Any] = {}
        self._held: dict[str, dict[str, bool]] = {robot: {} for robot in robots}
        self._reset_asked: dict[str, float] = {}
        self._http: urllib.request.OpenerDirector | None = None
        self._csrf = ''
        self.notes: list[str] = []

    def start(self) -> None:
        """Create the node and its subscriptions (rclpy must be initialised)."""
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool

        from muse_supervisor.msg import ExecutionOutcome, GateStatus, Incident, RecoveryProposal
        from muse_supervisor.nodes.qos import LATCHED, PROPOSALS

        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        node = self._node = rclpy.create_node('muse_supervisor_demo_monitor')
        for robot in self.robots:
            ns = f'/{robot}'
            node.create_subscription(
                Incident, f'{ns}/incidents', partial(self._on_incident, robot), reliable
            )
            node.create_subscription(
                RecoveryProposal, f'{ns}/recovery_proposals', self._on_proposal, PROPOSALS
            )
            node.create_subscription(
                GateStatus, f'{ns}/gate_status', partial(self._on_gate, robot), LATCHED
            )
            node.create_subscription(
                ExecutionOutcome, f'{ns}/execution_outcomes', self._on_outcome, reliable
            )
            node.create_subscription(Twist, f'{ns}/cmd_vel', partial(self._on_cmd, robot), 10)
            for name in ('estop', 'person_in_zone'):
                for qos in (LATCHED, 10):
                    node.create_subscription(
                        Bool, f'{ns}/{name}',
                        partial(self._on_safety, robot, name), qos,
                    )  # fmt: skip
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._start_timelines()

    def _start_timelines(self) -> None:
        """Start every robot's shift now that the whole stack is up (``timeline_wait``)."""
        from std_srvs.srv import Trigger

        from muse_supervisor.nodes.lifecycle import wait_for_future

        for robot in self.robots:
            client = self._node.create_client(Trigger, f'/{robot}/start_timeline')
            answer = None
            if client.wait_for_service(timeout_sec=10.0):
                answer = wait_for_future(client.call_async(Trigger.Request()),
                                         time.monotonic() + 5.0)  # fmt: skip
            if answer is None or not answer.success:
                why = 'no answer' if answer is None else answer.message
                self.notes.append(f'{robot}: the shift did not start on cue ({why})')
            self._node.destroy_client(client)

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        # The stack's runner shuts rclpy down when the shift is over.
        with contextlib.suppress(ExternalShutdownException):
            self._executor.spin()

    def close(self) -> None:
        """Stop spinning and destroy the node."""
        if self._executor is not None:
            self._executor.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._node is not None:
            self._node.destroy_node()
        self._node = self._executor = self._thread = None

    # -- what it sees ----------------------------------------------------------------------

    def _on_incident(self, robot: str, msg: Any) -> None:
        from muse_supervisor.nodes.hmi_messages import incident_dict

        data = incident_dict(msg)
        actors = [(t['to'], t['actor'], t['stamp']) for t in data['transitions']]
        with self._lock:
            self.score.incident(robot, data['id'], data['kind'], data['state'],
                                data['opened'] or time.time(), actors)  # fmt: skip

    def _on_proposal(self, msg: Any) -> None:
        from muse_supervisor.nodes.hmi_messages import proposal_dict

        data = proposal_dict(msg)
        best = data['plans'][0] if data['plans'] else None
        steps = ' > '.join(s['skill'] for s in best['steps']) if best else ''
        with self._lock:
            self.score.proposal(data['incident_id'], steps, data['confidence'], time.time())

    def _on_gate(self, robot: str, msg: Any) -> None:
        with self._lock:
            self._gates[robot] = msg
            self.score.gate(robot, bool(msg.stop_reasons), msg.active_plan_id, time.time())

    def _on_outcome(self, msg: Any) -> None:
        with self._lock:
            self.score.outcome(msg.incident_id, msg.error_code == 0, msg.error_msg)

    def _on_cmd(self, robot: str, msg: Any) -> None:
        with self._lock:
            self.score.command(robot, msg.linear.x, msg.angular.z, time.time())

    def _on_safety(self, robot: str, name: str, msg: Any) -> None:
        with self._lock:
            self._held[robot][name] = bool(msg.data)
            self.score.safety_input(robot, any(self._held[robot].values()), time.time())

    # -- the scripted operator ---------------------------------------------------------------

    def tick(self) -> None:
        """Play the operator's part where the shift needs one (called a few times a second)."""
        if not self._scripted:
            return
        now = time.time()
        with self._lock:
            gates = dict(self._gates)
            held = {robot: any(v.values()) for robot, v in self._held.items()}
        for robot, status in gates.items():
            if not status.reset_required or held.get(robot, True):
                continue
            if not all(not reason.cause_present for reason in status.stop_reasons):
                continue
            if now - self._reset_asked.get(robot, -1e9) < 5.0:
                continue
            self._reset_asked[robot] = now
            answer = self._act(
                {
                    'action': 'reset',
                    'robot': f'/{robot}',
                    'reason': 'scripted shift: the cause is gone, the aisle is clear',
                }
            )
            note = f'{robot}: gate reset by the demo operator through the HMI: {answer}'
            if note not in self.notes:
                self.notes.append(note)

    def _act(self, body: dict[str, str]) -> str:
        try:
            if self._http is None:
                jar = http.cookiejar.CookieJar()
                self._http = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
                who = self._post('/api/login', {'name': self._login[0],
                                                'secret': self._login[1]})  # fmt: skip
                self._csrf = who['csrf']
            return str(self._post('/api/action', body).get('message', ''))
        except (OSError, ValueError, KeyError) as error:
            self._http = None
            return f'failed: {error}'

    def _post(self, path: str, body: dict[str, str]) -> dict[str, Any]:
        assert self._http is not None
        request = urllib.request.Request(
            self._hmi_url.rstrip('/') + path, data=json.dumps(body).encode(), method='POST',
            headers={'Content-Type': 'application/json', 'X-CSRF-Token': self._csrf},
        )  # fmt: skip
        with self._http.open(request, timeout=10.0) as response:
            return dict(json.loads(response.read()))
