"""``hmi_bridge_node``: the operator HMI: incidents, evidence, ranked plans, and who decided what.

For each robot namespace it serves (``robots``; its own by default) it subscribes the latched
``incidents/open``, ``recovery_proposals`` and ``gate_status``, ``odom``, the camera and
``operator_notices``, hands them to the HMI core (:mod:`muse_supervisor.hmi`) and re-publishes
them latched, for any HMI, as ``hmi/incidents`` (every robot's open incidents) and
``hmi/proposals``. It serves the web HMI (:class:`~muse_supervisor.hmi.server.HmiServer`) on
``host``:``port``.

An operator's action, checked by the server (session, role, CSRF token, the plan and digest it
showed), goes to the robot's components with the verified operator's name:
- edit: the reasoner's ``edit_plan`` (new argument values for the plan shown, with its
  digest); the edited plan comes back in a new proposal, under a new digest;
- approve / reject: the gate's ``approve_plan`` (with the digest shown); an approval then
  moves the incident to approved (``incidents/update``) and is published as an
  ``OperatorDecision`` on ``operator_decisions``, on which the reasoner hands the plan to the
  gate's ``execute_plan``;
- acknowledge, assign, dismiss (with a reason), handled on site (a dismissal saying so):
  ``incidents/update``;
- reset: the gate's ``reset``.
Every action, and every refused request, is in the audit file and, per robot, on
``operator_actions`` (``OperatorAction``), which the incident recorder writes to the recording.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from nav_msgs.msg import Odometry
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from muse_supervisor.domain.incidents import IncidentAction
from muse_supervisor.hmi.accounts import (
    Account,
    AccountBook,
    AccountError,
    account_entry,
    load_accounts,
)
from muse_supervisor.hmi.actions import ActionKind, OperatorAction
from muse_supervisor.hmi.audit import AuditEntry, AuditLog
from muse_supervisor.hmi.fleet import FleetView
from muse_supervisor.hmi.mapview import world_view
from muse_supervisor.hmi.server import ActionOutcome, HmiServer
from muse_supervisor.msg import (
    ExecutionOutcome,
    GateStatus,
    Incident,
    IncidentList,
    OperatorDecision,
    OperatorNotice,
    RecoveryProposal,
    SkillArgument,
)
from muse_supervisor.msg import (
    OperatorAction as OperatorActionMsg,
)
from muse_supervisor.nodes.conversions import time_msg, yaw_of
from muse_supervisor.nodes.hmi_messages import (
    frame_jpeg,
    gate_dict,
    incident_dict,
    notice_dict,
    outcome_dict,
    proposal_dict,
)
from muse_supervisor.nodes.installed import share_dir
from muse_supervisor.nodes.lifecycle import SupervisorNode, run, wait_for_future
from muse_supervisor.nodes.qos import LATCHED, PROPOSALS
from muse_supervisor.params import ConfigError, param
from muse_supervisor.sim.world import WorldError, load_world
from muse_supervisor.srv import ApprovePlan, EditPlan, ResetGate, UpdateIncident

_RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
_SERVICE_WAIT = 3.0  # s for the gate's and the incident keeper's answers


@dataclass(frozen=True)
class HmiBridgeConfig:
    """Parameters of ``hmi_bridge`` (see ``config/hmi_bridge.yaml``)."""

    host: str = param(
        '127.0.0.1', 'Address the HMI server listens on; keep 127.0.0.1 and put a TLS reverse '
        'proxy in front to serve other machines (docs/HMI.md).', read_only=True,
    )  # fmt: skip
    port: int = param(
        8765,
        'Port the HMI server listens on (0 picks a free one).',
        minimum=0,
        maximum=65535,
        read_only=True,
    )
    robots: str = param(
        '', 'Robot namespaces shown, comma-separated ("/robot_1,/robot_2"); empty: this node\'s '
        'own namespace.',
    )  # fmt: skip
    accounts_file: str = param(
        '', 'HMI accounts (name, role, scrypt hash; muse-supervisor hmi-account writes entries); '
        'empty: $ROS_HOME/muse_supervisor/hmi_accounts.yaml, created on first start with one '
        'operator account whose secret is logged once.',
    )  # fmt: skip
    audit_file: str = param(
        '', 'Audit trail (JSON lines); empty: $ROS_HOME/muse_supervisor/hmi_audit.jsonl.'
    )
    stale_after: float = param(
        5.0, 'Seconds without any data from a robot after which it shows as stale.',
        minimum=0.5, maximum=600.0,
    )  # fmt: skip
    camera_rate_hz: float = param(
        2.0, 'Camera frames per second re-encoded for the page (0: no camera).',
        minimum=0.0, maximum=30.0,
    )  # fmt: skip
    world: str = param('', 'World file drawn as the map; empty: the installed warehouse world.')


class HmiBridgeNode(SupervisorNode[HmiBridgeConfig]):
    """The operator HMI: incidents, evidence, ranked plans, and who decided what."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('hmi_bridge', HmiBridgeConfig, **kwargs)
        self._fleet: FleetView | None = None
        self._server: HmiServer | None = None
        self._audit: AuditLog | None = None
        self._service_clients: dict[tuple[str, str], Any] = {}
        self._decision_pubs: dict[str, Any] = {}
        self._action_pubs: dict[str, Any] = {}
        self._incidents: dict[str, IncidentList] = {}
        self._frame_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read the accounts and the world, wire every robot; refuse a bad configuration."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        try:
            accounts = self._accounts(config)
            world_path = Path(config.world or share_dir() / 'config/maps/warehouse_world.yaml')
            world, map_png = world_view(load_world(world_path))
        except (AccountError, WorldError, ConfigError, OSError) as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        robots = [self._namespace_of(r) for r in config.robots.split(',') if r.strip()]
        robots = robots or [self._namespace_of('')]
        if len(set(robots)) != len(robots):
            self.get_logger().error(f'invalid configuration: robots {robots} repeat a namespace')
            return TransitionCallbackReturn.FAILURE
        self._fleet = FleetView(robots, time.time, config.stale_after, world)
        self._audit = AuditLog(Path(config.audit_file or _state_dir() / 'hmi_audit.jsonl'))
        self._server = HmiServer(
            self._fleet, accounts, self._audit, self._perform, host=config.host, port=config.port,
            map_png=map_png, on_audit=self._publish_audit,
        )  # fmt: skip
        entities = self.entities
        self._all_incidents_pub = entities.publisher(IncidentList, 'hmi/incidents', LATCHED)
        self._proposals_pub = entities.publisher(RecoveryProposal, 'hmi/proposals', PROPOSALS)
        for robot in robots:
            self._wire(robot, config)
        self.get_logger().info(
            f'configured: {len(robots)} robot(s) {robots}, {len(accounts)} account(s), audit in '
            f'{self._audit.path}'
        )
        return TransitionCallbackReturn.SUCCESS

    def _namespace_of(self, robot: str) -> str:
        namespace = robot.strip() or self.get_namespace()
        return '/' + namespace.strip('/') if namespace.strip('/') else '/'

    def _wire(self, robot: str, config: HmiBridgeConfig) -> None:
        def topic(name: str) -> str:
            return f'{robot.rstrip("/")}/{name}'

        subscribe, entities = self.entities.subscription, self.entities
        subscribe(IncidentList, topic('incidents/open'), lambda m: self._on_incidents(robot, m),
                  LATCHED)  # fmt: skip
        subscribe(
            Incident,
            topic('incidents'),
            lambda m: self._fleet_do('note_incident', robot, incident_dict(m)),
            _RELIABLE,
        )
        subscribe(
            ExecutionOutcome,
            topic('execution_outcomes'),
            lambda m: self._fleet_do('add_outcome', robot, outcome_dict(m)),
            _RELIABLE,
        )
        subscribe(RecoveryProposal, topic('recovery_proposals'),
                  lambda m: self._on_proposal(robot, m), PROPOSALS)  # fmt: skip
        subscribe(GateStatus, topic('gate_status'), lambda m: self._fleet_do('set_gate', robot,
                  gate_dict(m)), LATCHED)  # fmt: skip
        subscribe(
            OperatorNotice,
            topic('operator_notices'),
            lambda m: self._fleet_do('add_notice', robot, notice_dict(m)),
            _RELIABLE,
        )
        subscribe(Odometry, topic('odom'), lambda m: self._on_odom(robot, m), 5)
        if config.camera_rate_hz > 0:
            subscribe(Image, topic('camera/image_raw'), lambda m: self._on_image(robot, m),
                      qos_profile_sensor_data)  # fmt: skip
            subscribe(CompressedImage, topic('camera/image_raw/compressed'),
                      lambda m: self._on_image(robot, m), qos_profile_sensor_data)  # fmt: skip
        self._decision_pubs[robot] = entities.publisher(
            OperatorDecision, topic('operator_decisions'), _RELIABLE
        )
        self._action_pubs[robot] = entities.publisher(
            OperatorActionMsg, topic('operator_actions'), _RELIABLE
        )
        for service_type, name in ((ApprovePlan, 'approve_plan'), (ResetGate, 'reset'),
                                   (UpdateIncident, 'incidents/update'),
                                   (EditPlan, 'edit_plan')):  # fmt: skip
            self._service_clients[(robot, name)] = entities.keep(
                self.destroy_client, self.create_client(service_type, topic(name))
            )

    def _accounts(self, config: HmiBridgeConfig) -> AccountBook:
        if config.accounts_file:
            return load_accounts(Path(config.accounts_file))
        path = _state_dir() / 'hmi_accounts.yaml'
        if not path.exists():
            secret = secrets.token_urlsafe(15)
            path.parent.mkdir(parents=True, exist_ok=True)
            entry = account_entry('operator', 'operator', secret)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w', encoding='utf-8') as file:
                yaml.safe_dump({'accounts': [entry]}, file)
            self.get_logger().warning(
                f'created {path} with the account "operator", secret {secret} (shown once; '
                'add accounts with muse-supervisor hmi-account)'
            )
        return load_accounts(path)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start serving the page; fail when the address cannot be bound."""
        assert self._server is not None and self.config is not None
        try:
            port = self._server.start()
        except RuntimeError as error:
            self.get_logger().error(str(error))
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info(f'HMI at http://{self.config.host}:{port}/')
        return super().on_activate(state)

    def stop_work(self) -> None:
        """Stop serving (open pages lose their connection and say so)."""
        if self._server is not None:
            self._server.stop()

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Close the audit file and forget the robots."""
        result = super().on_cleanup(state)
        if self._audit is not None:
            self._audit.close()
        self._server = self._audit = self._fleet = None
        self._service_clients.clear()
        self._decision_pubs.clear()
        self._action_pubs.clear()
        return result

    # Inputs --------------------------------------------------------------------------------

    def _fleet_do(self, method: str, robot: str, value: Any) -> None:
        if self._fleet is not None:
            getattr(self._fleet, method)(robot, value)

    def _on_incidents(self, robot: str, msg: IncidentList) -> None:
        self._fleet_do('set_incidents', robot, [incident_dict(i) for i in msg.incidents])
        with self._lock:
            self._incidents[robot] = msg
            merged = IncidentList(
                incidents=[i for lst in self._incidents.values() for i in lst.incidents]
            )
        merged.header.stamp = self.get_clock().now().to_msg()
        self._all_incidents_pub.publish(merged)

    def _on_proposal(self, robot: str, msg: RecoveryProposal) -> None:
        self._fleet_do('set_proposal', robot, proposal_dict(msg))
        self._proposals_pub.publish(msg)

    def _on_odom(self, robot: str, msg: Odometry) -> None:
        pose = msg.pose.pose
        self._fleet_do('set_pose', robot, {'x': pose.position.x, 'y': pose.position.y,
                                           'yaw': yaw_of(pose.orientation)})  # fmt: skip

    def _on_image(self, robot: str, msg: Any) -> None:
        assert self.config is not None
        now = time.monotonic()
        if now - self._frame_at.get(robot, -1e9) < 1.0 / self.config.camera_rate_hz:
            return
        self._frame_at[robot] = now
        frame = frame_jpeg(msg)
        if frame is not None:
            self._fleet_do('set_frame', robot, frame)

    # Actions (from the server's worker threads) -----------------------------------------------

    def _perform(self, action: OperatorAction, account: Account) -> ActionOutcome:
        robot, operator = action.robot, account.name
        kind = action.kind
        if kind in (ActionKind.APPROVE, ActionKind.REJECT):
            decision = (ApprovePlan.Request.DECISION_APPROVE if kind is ActionKind.APPROVE
                        else ApprovePlan.Request.DECISION_REJECT)  # fmt: skip
            answer = self._call(robot, 'approve_plan', ApprovePlan.Request(
                operator_id=operator, plan_id=action.plan_id, plan_digest=action.plan_digest,
                decision=decision, reason=action.reason,
            ))  # fmt: skip
            if answer is None:
                return ActionOutcome(False, 'the safety gate did not answer: is it running?')
            message = f'gate: {answer.message}'
            if answer.accepted and kind is ActionKind.APPROVE:
                moved = self._update(robot, action.incident_id, IncidentAction.APPROVE, operator,
                                     f'approved plan {action.plan_id}')  # fmt: skip
                message += f'; incident: {moved.message}'
            self._decision_pubs[robot].publish(OperatorDecision(
                header=self._header(), incident_id=action.incident_id, operator_id=operator,
                plan_id=action.plan_id, plan_digest=action.plan_digest, decision=decision,
                reason=action.reason, accepted=bool(answer.accepted), message=answer.message,
            ))  # fmt: skip
            return ActionOutcome(bool(answer.accepted), message)
        if kind is ActionKind.EDIT:
            return self._edit(action, operator)
        if kind is ActionKind.RESET:
            reset = self._call(
                robot, 'reset', ResetGate.Request(operator_id=operator, reason=action.reason)
            )
            if reset is None:
                return ActionOutcome(False, 'the safety gate did not answer: is it running?')
            return ActionOutcome(bool(reset.success), f'gate: {reset.message}')
        step, reason = {
            ActionKind.ACKNOWLEDGE: (IncidentAction.ACKNOWLEDGE, action.reason),
            ActionKind.ASSIGN: (IncidentAction.ASSIGN, action.assignee),
            ActionKind.DISMISS: (IncidentAction.DISMISS, action.reason),
            ActionKind.HANDLED_ON_SITE: (
                IncidentAction.DISMISS,
                f'handled on site{": " + action.reason if action.reason else ""}',
            ),
        }[kind]
        return self._update(robot, action.incident_id, step, operator, reason)

    def _edit(self, action: OperatorAction, operator: str) -> ActionOutcome:
        request = EditPlan.Request(
            incident_id=action.incident_id, plan_id=action.plan_id,
            plan_digest=action.plan_digest, operator_id=operator,
        )  # fmt: skip
        for edit in action.edits:
            argument = SkillArgument(name=edit.name)
            if isinstance(edit.value, str):
                argument.type, argument.text = SkillArgument.TYPE_TEXT, edit.value
            else:
                argument.type, argument.number = SkillArgument.TYPE_NUMBER, edit.value
            request.steps.append(edit.step)
            request.arguments.append(argument)
        answer = self._call(action.robot, 'edit_plan', request)
        if answer is None:
            return ActionOutcome(False, 'the reasoner did not answer: is it running?')
        edits = ', '.join(str(e) for e in action.edits)
        if not answer.accepted:
            return ActionOutcome(False, f'reasoner: {answer.message} ({edits})')
        return ActionOutcome(True, f'reasoner: {answer.message} ({edits}; new digest '
                                   f'{answer.plan_digest[:12]}…)')  # fmt: skip

    def _update(
        self, robot: str, incident_id: str, step: IncidentAction, actor: str, reason: str
    ) -> ActionOutcome:
        answer = self._call(robot, 'incidents/update', UpdateIncident.Request(
            incident_id=incident_id, action=int(step), actor=actor, reason=reason,
        ))  # fmt: skip
        if answer is None:
            return ActionOutcome(False, 'the perception node did not answer: is it running?')
        return ActionOutcome(bool(answer.accepted), answer.message)

    def _call(self, robot: str, name: str, request: Any) -> Any:
        client = self._service_clients.get((robot, name))
        if client is None or not client.wait_for_service(timeout_sec=_SERVICE_WAIT):
            return None
        return wait_for_future(client.call_async(request), time.monotonic() + _SERVICE_WAIT)

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg())

    def _publish_audit(self, entry: AuditEntry) -> None:
        publisher = self._action_pubs.get(entry.robot)
        if publisher is None:
            return  # logins and requests not about one robot: the audit file holds them
        msg = OperatorActionMsg(
            operator_id=entry.actor, role=entry.role, action=entry.action,
            incident_id=entry.incident_id, plan_id=entry.plan_id, plan_digest=entry.plan_digest,
            reason=entry.reason, accepted=entry.accepted, message=entry.message,
            remote=entry.remote,
        )  # fmt: skip
        msg.header.stamp = time_msg(entry.stamp)
        publisher.publish(msg)


def _state_dir() -> Path:
    return Path(os.environ.get('ROS_HOME') or Path.home() / '.ros') / 'muse_supervisor'


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``hmi_bridge_node`` executable."""
    return run(HmiBridgeNode, args)
