"""``reasoner_node``: proposes recovery plans, made only of allow-listed skills, for each incident.

Subscribes ``incidents`` and the latched ``incidents/open`` (perception). For each incident that
opens or changes (the policy is :mod:`muse_supervisor.reasoner.supervision`), a worker thread
fetches its context bundle
(``incidents/context``), runs the reasoner core (:class:`~muse_supervisor.reasoner.core.Reasoner`)
with the plan simulator's ``evaluate_plan`` action as its ``simulate`` tool, publishes the ranked
``RecoveryProposal`` on ``recovery_proposals`` (latched: the gate records decisions only on
plans it has received), and tells perception (``incidents/update``, propose). When the site's
auto-approval policy allows the best plan (per kind, tier A or B, never C), the node approves it
as ``policy`` and sends it to the gate's ``execute_plan``, reporting the execution's start and
end; otherwise an operator approves it through the HMI. A failed recovery is reasoned about
again until ``max_attempts``; after that the only plan is to ask a person. The ``edit_plan``
service takes an operator's new argument values for a proposed plan: validated at once, then
simulated and published first in a new proposal under a new digest (``reasoner/editing.py``).

The robot's state (pose, speed, battery, e-stop, person signal) comes from ``odom``,
``battery_state``, ``estop`` and ``person_in_zone``. The node publishes the ``heartbeat`` the
gate watches only while it is healthy: active, its worker thread alive, and no reasoning pass
stuck for longer than the Thinking deadline plus ``stuck_after``. A dead or stuck reasoner
therefore stops the robot (the gate fails closed).

Threads: ROS callbacks run on the node's executor; the reasoning runs on one worker thread,
which waits on service and action futures the executor completes. The core's state is not
shared: each pass gets its inputs copied under a lock.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builtin_interfaces.msg import Duration
from nav_msgs.msg import Odometry
from rclpy import logging as rclpy_logging
from rclpy.action.client import ActionClient
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Bool, Header

from muse_supervisor.action import EvaluatePlan, ExecutePlan
from muse_supervisor.domain import IncidentKind, Pose2D, Severity
from muse_supervisor.domain.incidents import IncidentState
from muse_supervisor.domain.plans import Plan
from muse_supervisor.msg import (
    ExecutionOutcome,
    Incident,
    IncidentList,
    OperatorDecision,
    PlanEvaluation,
    RecoveryProposal,
    SkillArgument,
)
from muse_supervisor.nodes.conversions import (
    evaluation_msg,
    plan_msg,
    prediction_from_msg,
    time_msg,
    yaw_of,
)
from muse_supervisor.nodes.installed import share_dir
from muse_supervisor.nodes.lifecycle import SupervisorNode, run, wait_for_future
from muse_supervisor.nodes.qos import LATCHED, PROPOSALS
from muse_supervisor.params import ConfigError, param
from muse_supervisor.perception.context import ContextBundle
from muse_supervisor.reasoner.core import Proposal, RankedPlan, Reasoner, ReasonerSettings
from muse_supervisor.reasoner.editing import ArgumentEdit, EditError
from muse_supervisor.reasoner.embeddings import TextEmbedder
from muse_supervisor.reasoner.facts import RobotState
from muse_supervisor.reasoner.language import load_glossary
from muse_supervisor.reasoner.maintenance import open_maintenance_log
from muse_supervisor.reasoner.sops import load_library
from muse_supervisor.reasoner.supervision import (
    ApprovedPlans,
    AutoApproval,
    IncidentUpdate,
    IncidentWatch,
    choose_mode,
    unsettled,
)
from muse_supervisor.safety.config import gate_config_from_file
from muse_supervisor.sim.rollout import Prediction, Situation
from muse_supervisor.sim.world import WorldError, load_world
from muse_supervisor.srv import EditPlan, GetIncidentContext, UpdateIncident

_LOG = rclpy_logging.get_logger('reasoner')
_RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
_LATEST = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
_KEEP_PROPOSED = 100
_SERVICE_WAIT = 2.0  # s for incidents/context and incidents/update answers
_MODES = {'instant': RecoveryProposal.MODE_INSTANT, 'thinking': RecoveryProposal.MODE_THINKING}


@dataclass(frozen=True)
class ReasonerConfig:
    """Parameters of ``reasoner`` (see ``config/reasoner.yaml``)."""

    mode: str = param(
        'auto',
        'Reasoning mode: auto (instant for critical incidents, thinking otherwise), instant or '
        'thinking.',
        choices=('auto', 'instant', 'thinking'),
    )
    candidates: int = param(
        4, 'Number of candidate plans in thinking mode (k).', minimum=1, maximum=16
    )
    instant_deadline: float = param(
        0.1, 'Deadline of an instant pass (s).', minimum=0.01, maximum=10.0
    )
    thinking_deadline: float = param(
        2.0, 'Deadline of a thinking pass (s).', minimum=0.05, maximum=60.0
    )
    operator_threshold: float = param(
        0.6, 'Below this confidence the best plan asks a person first.', minimum=0.0, maximum=1.0
    )
    backend: str = param(
        'sop',
        'Plan source: sop (SOP library, offline), transformers (local model), openai (server).',
        choices=('sop', 'transformers', 'openai'),
        read_only=True,
    )
    model_path: str = param(
        '',
        'Local folder of a vision-language model (backend transformers); never downloaded.',
        read_only=True,
    )
    openai_base_url: str = param(
        '', 'OpenAI-compatible endpoint, e.g. http://host:8000/v1 (backend openai).',
        read_only=True,
    )  # fmt: skip
    openai_model: str = param('', 'Model name on that endpoint.', read_only=True)
    sops_dir: str = param(
        '', 'Folder of SOP files; empty: the installed config/sops.', read_only=True
    )
    world: str = param(
        '', 'World file (map, places); empty: the installed warehouse world.', read_only=True
    )
    gate_parameters: str = param(
        '', "The gate's parameter file; empty: the installed safety_gate.yaml.", read_only=True
    )
    gate_node: str = param('safety_gate', "The gate's node name, in this namespace.")
    maintenance_db: str = param(
        '', 'SQLite file of the maintenance log; empty: in memory.', read_only=True
    )
    maintenance_seed: str = param(
        '',
        'CSV imported into an empty maintenance log; empty: the installed example history.',
        read_only=True,
    )
    auto_approve: str = param(
        '',
        'Plans that may run without an operator: comma-separated kind:tier (tier A or B, never '
        'C), e.g. "low_battery:B,camera_fault:A"; empty: every plan waits for an operator.',
    )
    auto_approve_confidence: float = param(
        0.9, 'Least confidence for auto-approval.', minimum=0.0, maximum=1.0
    )
    max_attempts: int = param(
        3, 'Failed recoveries per incident before a person decides.', minimum=1, maximum=20
    )
    simulate: bool = param(True, 'Ask the plan simulator (evaluate_plan) about candidates.')
    heartbeat_rate: float = param(
        10.0, 'Rate of the heartbeat the gate watches (Hz).', minimum=1.0, maximum=100.0
    )
    stuck_after: float = param(
        5.0,
        'A pass running this long past its deadline counts as stuck: the heartbeat stops (s).',
        minimum=0.5,
        maximum=120.0,
    )


@dataclass(frozen=True)
class _EditJob:
    """An operator's validated edit, for the worker to simulate and publish."""

    proposal: Proposal
    edited: RankedPlan
    operator: str


def _argument_edit(step: int, argument: Any) -> ArgumentEdit:
    if argument.type == SkillArgument.TYPE_NUMBER:
        return ArgumentEdit(int(step), argument.name, float(argument.number))
    if argument.type == SkillArgument.TYPE_TEXT:
        return ArgumentEdit(int(step), argument.name, argument.text)
    raise EditError(f'argument {argument.name!r}: type {argument.type}, expected TYPE_NUMBER (1) '
                    'or TYPE_TEXT (2)')  # fmt: skip


class ActionSimulator:
    """The ``simulate`` tool on the robot: the plan simulator node's ``evaluate_plan`` action.

    The plan simulator uses its own odometry and e-stop; the situation the core passes is not
    sent (the action carries plans only).
    """

    def __init__(self, client: Any) -> None:  # ActionClient (generic in Kilted's rclpy)
        self._client = client

    def evaluate(
        self, plans: Sequence[Plan], situation: Situation, timeout: float
    ) -> list[Prediction | None]:
        """Send the plans as one goal; ``None`` for each when no answer came in time."""
        end = time.monotonic() + timeout
        if not plans or not self._client.server_is_ready():
            return [None] * len(plans)
        goal = EvaluatePlan.Goal(
            incident_id=plans[0].incident_id, plans=[plan_msg(p) for p in plans]
        )
        handle = wait_for_future(self._client.send_goal_async(goal), end)
        if handle is None or not handle.accepted:
            return [None] * len(plans)
        response = wait_for_future(handle.get_result_async(), end)
        if response is None:
            handle.cancel_goal_async()
            return [None] * len(plans)
        by_id = {e.plan_id: e for e in response.result.evaluations}
        return [
            prediction_from_msg(by_id[p.id]) if p.id in by_id and by_id[p.id].predicted_outcome
            else None
            for p in plans
        ]  # fmt: skip


class ReasonerNode(SupervisorNode[ReasonerConfig]):
    """Proposes recovery plans, made only of allow-listed skills, for each incident."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('reasoner', ReasonerConfig, **kwargs)
        self._lock = threading.Lock()
        self._robot = RobotState()
        self._reasoner: Reasoner | None = None
        self._policy = AutoApproval()
        self._watch = IncidentWatch()
        self._queue: queue.Queue[IncidentUpdate | _EditJob | None] = queue.Queue()
        self._edits = 0  # numbers the edited plans
        self._worker: threading.Thread | None = None
        self._busy_since: float | None = None
        self._executing = ''  # the incident whose plan the gate runs for us now
        self._approved = ApprovedPlans()  # operators' approvals waiting for the running plan
        self._proposals = 0
        # The latest proposal per incident, to execute the plan an operator approves.
        self._proposed: OrderedDict[str, Proposal] = OrderedDict()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the SOP library, the embedding model, the backend and the maintenance log."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        try:
            self._reasoner = self._build(config)
            self._policy = AutoApproval.parse(
                [e for e in config.auto_approve.split(',') if e.strip()],
                config.auto_approve_confidence,
            )
        except (ConfigError, WorldError, OSError, ValueError, RuntimeError) as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            self._reasoner = None
            return TransitionCallbackReturn.FAILURE
        self._watch = IncidentWatch(config.max_attempts)
        entities = self.entities
        self._proposal_pub = entities.publisher(RecoveryProposal, 'recovery_proposals', PROPOSALS)
        self._heartbeat_pub = entities.publisher(Header, 'heartbeat', _LATEST)
        entities.subscription(Incident, 'incidents', self._on_incident, _RELIABLE)
        # The latched list of open incidents: those opened before this node came up.
        entities.subscription(IncidentList, 'incidents/open', self._on_open, LATCHED)
        entities.subscription(OperatorDecision, 'operator_decisions', self._on_decision, _RELIABLE)
        entities.service(EditPlan, 'edit_plan', self._on_edit)
        self._outcome_pub = entities.publisher(ExecutionOutcome, 'execution_outcomes', _RELIABLE)
        entities.subscription(Odometry, 'odom', self._on_odom, _LATEST)
        entities.subscription(BatteryState, 'battery_state', self._on_battery, _LATEST)
        for topic, qos in (('estop', LATCHED), ('person_in_zone', LATCHED)):
            entities.subscription(Bool, topic, self._safety_input(topic), qos)
        self._context_client: Any = entities.keep(
            self.destroy_client, self.create_client(GetIncidentContext, 'incidents/context')
        )
        self._update_client: Any = entities.keep(
            self.destroy_client, self.create_client(UpdateIncident, 'incidents/update')
        )
        self._execute_client: Any = ActionClient(self, ExecutePlan, 'execute_plan')
        entities.keep(lambda client: client.destroy(), self._execute_client)
        entities.timer(1.0 / config.heartbeat_rate, self._beat)
        self.get_logger().info(
            f'configured: backend {self._reasoner.backend.name}, '
            f'{len(self._reasoner.library.procedures)} procedures, mode {config.mode}, '
            f'auto-approval {_tiers(self._policy)} at confidence '
            f'{self._policy.min_confidence:.2f}'
        )
        return TransitionCallbackReturn.SUCCESS

    def _build(self, config: ReasonerConfig) -> Reasoner:
        share = share_dir() / 'config'
        gate_fqn = f'{self.get_namespace().rstrip("/")}/{config.gate_node}'
        gate = gate_config_from_file(config.gate_parameters or str(share / 'safety_gate.yaml'),
                                     gate_fqn)  # fmt: skip
        world = load_world(Path(config.world or share / 'maps' / 'warehouse_world.yaml'))
        sops = Path(config.sops_dir or share / 'sops')
        embedder = TextEmbedder()
        embedder.load()
        seed = config.maintenance_seed or str(share / 'maintenance' / 'history.csv')
        simulator = None
        if config.simulate:
            evaluate: Any = ActionClient(self, EvaluatePlan, 'evaluate_plan')
            self.entities.keep(lambda client: client.destroy(), evaluate)
            simulator = ActionSimulator(evaluate)
        reasoner = Reasoner(
            load_library(sops),
            embedder.embed,
            load_glossary(sops / 'glossary.yaml'),
            gate,
            world,
            backend=_model_backend(config),
            simulator=simulator,
            maintenance=open_maintenance_log(config.maintenance_db, seed),
            settings=ReasonerSettings(
                instant_deadline=config.instant_deadline,
                thinking_deadline=config.thinking_deadline,
                candidates=config.candidates,
                operator_threshold=config.operator_threshold,
            ),
        )
        reasoner.load()
        return reasoner

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start the worker thread (and so the heartbeat)."""
        self._worker = threading.Thread(target=self._work, name='reasoner_worker', daemon=True)
        self._worker.start()
        return super().on_activate(state)

    def stop_work(self) -> None:
        """Stop the worker thread; the heartbeat stops with it."""
        worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=10.0)

    # Inputs --------------------------------------------------------------------------------

    def _on_incident(self, msg: Incident) -> None:
        try:
            update = IncidentUpdate(
                id=msg.id, kind=IncidentKind(msg.kind),
                other_kinds=tuple(IncidentKind(k) for k in msg.other_kinds),
                severity=Severity(msg.severity), state=IncidentState(msg.state),
                attempts=int(msg.attempts), stale=bool(msg.stale),
            )  # fmt: skip
        except ValueError as error:
            self.get_logger().warning(f'incident {msg.id!r} not understood: {error}')
            return
        if self._worker is not None and self._watch.wants(update, time.monotonic()):
            self._queue.put(update)

    def _on_open(self, msg: IncidentList) -> None:
        for incident in msg.incidents:
            self._on_incident(incident)

    def _on_odom(self, msg: Odometry) -> None:
        pose = msg.pose.pose
        with self._lock:
            self._robot = _robot(self._robot, pose=Pose2D(
                float(pose.position.x), float(pose.position.y), yaw_of(pose.orientation)),
                speed=float(msg.twist.twist.linear.x))  # fmt: skip

    def _on_battery(self, msg: BatteryState) -> None:
        value = float(msg.percentage)
        if 0.0 <= value <= 1.0:
            with self._lock:
                self._robot = _robot(self._robot, battery=value)

    def _safety_input(self, topic: str) -> Any:
        name = 'estop' if topic == 'estop' else 'person'

        def record(msg: Bool) -> None:
            with self._lock:
                self._robot = _robot(self._robot, **{name: bool(msg.data)})

        return record

    # The worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            update = self._queue.get()
            if update is None:
                return
            self._busy_since = time.monotonic()
            try:
                if isinstance(update, _EditJob):
                    self._simulate_edit(update)
                else:
                    self._reason(update)
            except Exception as error:  # one bad incident must not end the reasoner
                self.get_logger().error(f'reasoning about {update!r} failed: {error!r}')
            finally:
                self._busy_since = None

    def _reason(self, update: IncidentUpdate) -> None:
        assert self._reasoner is not None and self.config is not None
        bundle = self._fetch_context(update.id)
        if bundle is None:
            return
        with self._lock:
            robot = self._robot
        mode = choose_mode(update.severity, self.config.mode)
        proposal = self._reasoner.propose(
            bundle, robot, mode, ask_operator=self._watch.must_ask(update)
        )
        self._publish(proposal)
        again = '' if self._watch.must_ask(update) else unsettled(proposal, self.config.simulate)
        self._watch.proposed(update.id, bool(again), time.monotonic())
        best = proposal.plans[0].candidate.sop_id
        reason = f'{len(proposal.plans)} plan(s), best {best}'
        self._step(update.id, UpdateIncident.Request.ACTION_PROPOSE, 'reasoner', reason)
        approved, why = self._policy.decide(proposal)
        if approved and self._executing:  # the gate runs one plan at a time
            approved, why = False, f'waits: the plan for {self._executing} is executing'
        self.get_logger().info(
            f'proposal for {update.id}: {proposal.belief.governing.name.lower()} '
            f'(confidence {proposal.confidence:.2f}), {len(proposal.plans)} plan(s) in '
            f'{proposal.latency_ms:.0f} ms ({mode}); {why}'
            + (f'; looks again: {again}' if again else '')
        )
        for entry in proposal.trace:
            self.get_logger().debug(f'  {entry.tool}: {entry.summary}')
        if proposal.dropped:
            self.get_logger().warning(f'dropped for {update.id}: {"; ".join(proposal.dropped)}')
        if approved:
            self._run(update.id, proposal, why)

    def _fetch_context(self, incident_id: str) -> ContextBundle | None:
        if not self._context_client.service_is_ready():
            self.get_logger().warning(
                'incidents/context is not available: is the perception node running?',
                throttle_duration_sec=10.0,
            )
            return None
        request = GetIncidentContext.Request(incident_id=incident_id)
        answer = wait_for_future(
            self._context_client.call_async(request), time.monotonic() + _SERVICE_WAIT
        )
        if answer is None or not answer.found:
            why = 'no answer' if answer is None else answer.message
            self.get_logger().warning(f'no context for {incident_id!r}: {why}')
            return None
        return ContextBundle.from_dict(json.loads(answer.context_json))

    def _step(self, incident_id: str, action: int, actor: str, reason: str = '') -> bool:
        request = UpdateIncident.Request(
            incident_id=incident_id, action=action, actor=actor, reason=reason
        )
        answer = wait_for_future(
            self._update_client.call_async(request), time.monotonic() + _SERVICE_WAIT
        )
        if answer is None or not answer.accepted:
            why = 'no answer' if answer is None else answer.message
            self.get_logger().warning(f'incidents/update on {incident_id!r} refused: {why}')
            return False
        return True

    def _publish(self, proposal: Proposal) -> None:
        msg = RecoveryProposal(
            incident_id=proposal.incident_id, mode=_MODES[proposal.mode],
            summary=proposal.summary, confidence=float(proposal.confidence),
            kind=int(proposal.belief.governing), backend=proposal.backend,
            trace_json=json.dumps([entry.to_dict() for entry in proposal.trace]),
            dropped=list(proposal.dropped),
        )  # fmt: skip
        now = self.get_clock().now().nanoseconds * 1e-9
        msg.header.stamp = time_msg(now)
        seconds = proposal.latency_ms / 1e3
        msg.reasoning_time = Duration(sec=int(seconds), nanosec=int((seconds % 1.0) * 1e9))
        frame = 'map'
        for ranked in proposal.plans:
            msg.plans.append(plan_msg(
                ranked.plan, ranked.candidate.rationale, ranked.candidate.sources,
                ranked.confidence, ranked.risk, ranked.candidate.generator,
            ))  # fmt: skip
            msg.plans[-1].requires_approval = bool(ranked.requires_approval)
            if ranked.prediction is not None:
                msg.evaluations.append(evaluation_msg(ranked.prediction, frame, now))
            else:
                msg.evaluations.append(PlanEvaluation(plan_id=ranked.plan.id, failing_step=-1,
                                                      findings=['not simulated']))  # fmt: skip
        self._proposal_pub.publish(msg)
        self._proposals += 1
        with self._lock:
            self._proposed[proposal.incident_id] = proposal
            while len(self._proposed) > _KEEP_PROPOSED:
                self._proposed.popitem(last=False)

    def _run(self, incident_id: str, proposal: Proposal, why: str) -> None:
        """Approve the best plan by policy and hand it to the gate."""
        if self._step(incident_id, UpdateIncident.Request.ACTION_APPROVE, 'policy', why):
            self._execute(incident_id, proposal.plans[0].plan)

    def _on_edit(self, request: Any, response: Any) -> Any:
        """An operator's edit: validated here at once, simulated and published by the worker."""
        assert self._reasoner is not None
        incident_id = request.incident_id
        with self._lock:
            proposal, robot = self._proposed.get(incident_id), self._robot
            self._edits += 1
            serial = self._edits
        try:
            if proposal is None:
                raise EditError(f'no proposal for incident {incident_id!r} to edit')
            if self._executing == incident_id:
                raise EditError(f'a plan for {incident_id!r} is executing: edit after it ends')
            edits = [
                _argument_edit(step, argument)
                for step, argument in zip(request.steps, request.arguments, strict=True)
            ]
            edited = self._reasoner.edited(
                proposal,
                request.plan_id,
                request.plan_digest,
                edits,
                request.operator_id,
                robot,
                serial,
            )
        except (EditError, ValueError) as error:  # ValueError: steps and arguments differ
            response.accepted, response.message = False, str(error)
            self.get_logger().warning(f'edit by {request.operator_id!r} refused: {error}')
            return response
        self._queue.put(_EditJob(proposal, edited, request.operator_id))
        response.accepted, response.plan_id = True, edited.plan.id
        response.plan_digest = edited.plan.digest()
        response.message = f'{edited.plan.id} is valid; its prediction follows in a proposal'
        return response

    def _simulate_edit(self, job: _EditJob) -> None:
        assert self._reasoner is not None
        incident_id = job.proposal.incident_id
        with self._lock:
            latest = self._proposed.get(incident_id)
        if latest is not job.proposal:
            self.get_logger().warning(f'edit of {incident_id!r} by {job.operator!r} dropped: a '
                                      'newer proposal replaced the one edited')  # fmt: skip
            return
        # Longer than a pass's deadline (a person waits for it), never long enough for the
        # heartbeat's stuck watch to stop the robot.
        assert self.config is not None
        timeout = self.config.thinking_deadline + self.config.stuck_after / 2
        proposal = self._reasoner.with_edited(job.proposal, job.edited, timeout)
        self._publish(proposal)
        verdict = proposal.plans[0].prediction
        self.get_logger().info(
            f'{job.operator} edited {job.edited.plan.id}: '
            f'{"not simulated" if verdict is None else verdict.verdict.name.lower()}'
        )

    def _on_decision(self, msg: OperatorDecision) -> None:
        """An operator approved a plan through the HMI (which also moved the incident)."""
        if msg.decision != OperatorDecision.DECISION_APPROVE or not msg.accepted:
            return
        with self._lock:
            proposal = self._proposed.get(msg.incident_id)
        plan = next((r.plan for r in proposal.plans if r.plan.id == msg.plan_id), None) if (
            proposal is not None) else None  # fmt: skip
        if plan is None or plan.digest() != msg.plan_digest:
            self.get_logger().warning(
                f'{msg.operator_id} approved plan {msg.plan_id!r} for {msg.incident_id!r}, which '
                'is not (or no longer) the one this reasoner proposed: not executed'
            )
            return
        if self._executing:
            self._approved.wait(msg.incident_id, plan, msg.operator_id)
            self.get_logger().info(
                f'{msg.operator_id} approved {msg.plan_id!r} while the plan for '
                f'{self._executing} executes: it is sent to the gate when that one ends'
            )
            return
        self.get_logger().info(f'{msg.operator_id} approved {msg.plan_id!r}: executing it')
        self._start(msg.incident_id, plan)

    def _start(self, incident_id: str, plan: Plan) -> None:
        # Off the executor thread: handing the goal over waits for the gate's answer.
        threading.Thread(target=self._execute, args=(incident_id, plan), daemon=True).start()

    def _start_waiting(self) -> None:
        """The running plan ended: send the oldest approved plan that still stands."""

        def still_proposed(incident_id: str, plan: Plan) -> bool:
            with self._lock:
                proposal = self._proposed.get(incident_id)
            return proposal is not None and any(
                r.plan.digest() == plan.digest() for r in proposal.plans)  # fmt: skip

        waiting, dropped = self._approved.next(still_proposed)
        for why in dropped:
            self.get_logger().warning(f'not executed: {why}')
        if waiting is not None:
            incident_id, plan, operator = waiting
            self.get_logger().info(f'{operator} approved {plan.id!r} earlier: executing it now')
            self._start(incident_id, plan)

    def _execute(self, incident_id: str, plan: Plan) -> None:
        """Send ``plan`` to the gate's ``execute_plan``; report its start, end and outcome."""
        if not self._execute_client.server_is_ready():
            self.get_logger().warning('execute_plan is not available: the plan waits')
            return
        goal = ExecutePlan.Goal(plan=plan_msg(plan))
        handle = wait_for_future(
            self._execute_client.send_goal_async(goal), time.monotonic() + _SERVICE_WAIT
        )
        if handle is None or not handle.accepted:
            self.get_logger().warning(f'execute_plan refused the plan for {incident_id!r}')
            self._start_waiting()  # an approval refused (expired, say) holds up no other
            return
        self._executing = incident_id
        self._step(incident_id, UpdateIncident.Request.ACTION_START_EXECUTION, 'safety_gate')

        def finished(future: Any) -> None:
            self._executing = ''
            result = future.result().result
            outcome = ExecutionOutcome(
                incident_id=incident_id, plan_id=plan.id, error_code=result.error_code,
                error_msg=result.error_msg, steps_completed=result.steps_completed,
                step_count=len(plan.steps), total_time=result.total_time,
            )  # fmt: skip
            outcome.header.stamp = self.get_clock().now().to_msg()
            self._outcome_pub.publish(outcome)
            ok = result.error_code == ExecutePlan.Result.NONE
            action = (UpdateIncident.Request.ACTION_EXECUTION_SUCCEEDED if ok
                      else UpdateIncident.Request.ACTION_EXECUTION_FAILED)  # fmt: skip
            # From the executor thread: hand the report to a thread of its own, since it waits.
            threading.Thread(
                target=self._step, args=(incident_id, action, 'safety_gate', result.error_msg),
                daemon=True,
            ).start()  # fmt: skip
            self._start_waiting()

        handle.get_result_async().add_done_callback(finished)

    # Health ----------------------------------------------------------------------------------

    def _beat(self) -> None:
        if self.config is None or self._worker is None or not self._worker.is_alive():
            return
        busy = self._busy_since
        limit = self.config.thinking_deadline + self.config.stuck_after
        if busy is not None and time.monotonic() - busy > limit:
            self.get_logger().error(
                f'a reasoning pass has run {time.monotonic() - busy:.1f} s: heartbeat withheld',
                throttle_duration_sec=5.0,
            )
            return
        msg = Header(frame_id='reasoner')
        msg.stamp = self.get_clock().now().to_msg()
        self._heartbeat_pub.publish(msg)


def _tiers(policy: AutoApproval) -> dict[str, str]:
    return {kind.name.lower(): tier.name for kind, tier in policy.tiers.items()}


def _robot(state: RobotState, **changes: Any) -> RobotState:
    return replace(state, **changes)


def _model_backend(config: ReasonerConfig) -> Any:
    """The configured model backend (``None`` for ``sop``), loaded now."""
    if config.backend == 'sop':
        return None
    if config.backend == 'transformers':
        if not config.model_path:
            raise ConfigError('backend transformers needs model_path (a local model folder)')
        from muse_supervisor.reasoner.backends.local_vlm import TransformersBackend

        backend = TransformersBackend(Path(config.model_path))
        backend.load()
        return backend
    if not config.openai_base_url:
        raise ConfigError('backend openai needs openai_base_url (e.g. http://host:8000/v1)')
    from muse_supervisor.reasoner.backends.fleet import OpenAIBackend

    fleet = OpenAIBackend(config.openai_base_url, config.openai_model)
    try:  # the model name and JSON-schema spelling, learned once; a server down now is no
        # reason to refuse configure: its passes fall back to the SOPs until it answers
        fleet.prepare(timeout=5.0)
    except Exception as error:
        _LOG.warning(f'openai backend at {config.openai_base_url} not ready: {error}')
    return fleet


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``reasoner_node`` executable."""
    return run(ReasonerNode, args)
