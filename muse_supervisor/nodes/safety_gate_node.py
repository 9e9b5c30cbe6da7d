"""``safety_gate_node``: the only component that may command actuators; fails closed.

A thin lifecycle node around the gate's ROS-free core (``muse_supervisor/safety/``): it converts
the messages it watches into core inputs and publishes what the core decides. The rules are in
:class:`~muse_supervisor.safety.gate.GateCore`, plan execution in
:class:`~muse_supervisor.safety.runner.PlanRunner`, approvals in
:class:`~muse_supervisor.safety.approvals.ApprovalBook`, the graph guard's rule in
:func:`~muse_supervisor.safety.graph_guard.rogue_publishers`, and what the status and the log
say in :mod:`~muse_supervisor.safety.reporting`.

Threads (which runs what):

- The gate node's executor thread (:func:`~muse_supervisor.nodes.lifecycle.run`, a
  ``SingleThreadedExecutor``): lifecycle transitions, odometry, obstacle distance, proposals,
  the latched e-stop and person values (transient-local subscriptions, for a restart),
  the graph guard, the ``reset`` and ``approve_plan`` services, the ``execute_plan`` action's
  callbacks, and every ROS call the plan worker needs (Nav2 goals, trigger services), which the
  worker hands over with :meth:`SafetyGateNode.call_soon`: the worker itself never calls ROS.
- The stop path's executor thread (node ``<gate name>_inputs``): command sources, e-stop,
  person in zone, heartbeat and the output timer. A flood on the gate node's inputs cannot delay
  a stop, and each dispatch waits on a handful of entities instead of the lifecycle node's
  dozens (in rclpy that wait-set rebuild is most of the gate's added latency).
- One plan worker thread per executed plan, running the :class:`PlanRunner`.

Locks: ``_lock`` guards the core, the approval book and the status reporter, and is held while
``cmd_vel`` and ``gate_status`` are published, so outputs stay in order. Callback groups: with
single-threaded executors a group adds no concurrency, so every entity uses its node's default
group. Every input has a depth-1 queue; the e-stop and person inputs are reliable as well.

Clocks: the core's time is the gate node's clock (``/clock`` under ``use_sim_time``): every
timeout, stamp and deadline is compared in that time. The output timer runs on the steady clock,
so it keeps firing when ``/clock`` stops; the core's clock watchdog then compares steady time
with steady time only, and a gate clock that has stopped advancing is a stop cause. The plan
worker sleeps in steady time, which only paces it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import Range
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger

from muse_supervisor.action import ExecutePlan
from muse_supervisor.domain import Pose2D
from muse_supervisor.msg import Alarm, GateStatus, OperatorNotice, RecoveryProposal
from muse_supervisor.nodes.conversions import (
    plan_from_msg,
    seconds,
    stop_reason_msg,
    time_msg,
    yaw_of,
)
from muse_supervisor.nodes.lifecycle import InputThread, SupervisorNode, run
from muse_supervisor.nodes.nav2_navigation import Nav2Navigator, navigate_to_pose_type
from muse_supervisor.nodes.qos import LATCHED, PROPOSALS
from muse_supervisor.params import ConfigError
from muse_supervisor.safety.approvals import ApprovalBook, DecisionRequest
from muse_supervisor.safety.config import (
    CommandSource,
    GateConfig,
    GateLimits,
    gate_config_from_parameters,
)
from muse_supervisor.safety.gate import Cause, GateCore, GateOutput, range_to_distance
from muse_supervisor.safety.graph_guard import rogue_publishers
from muse_supervisor.safety.plans import PlanError
from muse_supervisor.safety.reporting import StatusReporter, TokenBucket
from muse_supervisor.safety.runner import Outcome, PlanRunner, PlanSlot, StepEvent
from muse_supervisor.safety.skills import Navigation, NoticeKind
from muse_supervisor.srv import ApprovePlan, ResetGate

# nav -> cmd_vel_nav (priority 10), teleop -> cmd_vel_teleop (100), 0.5 s each.
_DEFAULT_SOURCES = {source.name: source for source in GateConfig().sources}
_LATEST = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
_RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
# E-stop and person signals come from latched (publish on change) and periodic publishers. A
# transient-local subscription matches only transient-local publishers, a volatile one matches
# both but misses the latched value: the gate takes both, so a gate restarted while an e-stop is
# engaged hears it at once. Reliable only: a best-effort publisher matches neither, and its
# silence then counts as engaged (estop_required).
# rclpy's publish holds the interpreter lock while Fast DDS waits inside it; about 300 ms has
# been measured (docs/HAZARDS.md). Longer than this is said in the log.
_PUBLISH_BLOCK_WARNING = 0.1  # s
_SAFETY_SIGNAL = (QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE), LATCHED)


class SafetyGateNode(SupervisorNode[GateConfig]):
    """The only component that may command actuators; fails closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('safety_gate', GateLimits, **kwargs)
        self._lock = threading.Lock()
        self._core: GateCore | None = None
        self._approvals = ApprovalBook(GateLimits())  # sized on configure
        self._reporter = StatusReporter()
        self._input_tokens = TokenBucket(rate=0.0, burst=0.0)  # sized on configure
        self._entities: list[tuple[Any, Any]] = []
        self._reported_rogues = ''
        self._slot = PlanSlot()
        self._refused_goals: dict[bytes, str] = {}
        self._ticks = 0
        self._soon: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._nav2: Nav2Navigator | None = None
        self._triggers: _Triggers | None = None
        self._declare_structured_parameters()

    # ----- configuration ---------------------------------------------------------------------
    def _declare_structured_parameters(self) -> None:
        """Declare the nested parameters (twist_mux style) named by the list parameters."""
        lists = {
            'command_sources': 'Velocity sources; each has .topic, .priority, .timeout.',
            'keep_out_zones': 'Keep-out zones; each has .polygon [x1, y1, x2, y2, ...].',
            'waypoints': 'Waypoints for navigate_to and dock; each has .pose [x, y, yaw].',
            'actuator_topics': 'Topics only the gate may publish on (the graph guard checks).',
        }
        for name, text in lists.items():
            default = {'command_sources': list(_DEFAULT_SOURCES), 'actuator_topics': ['cmd_vel']}
            self.declare_parameter(name, default.get(name), _descriptor(text))
        self._nested: list[str] = []
        for source in self._names('command_sources'):
            known = _DEFAULT_SOURCES.get(source)
            for key, text in (
                ('topic', 'Topic of this velocity source (geometry_msgs/Twist).'),
                ('priority', 'Priority of this source; the highest fresh one wins.'),
                ('timeout', 'Seconds after which this source is stale (must be > 0).'),
            ):
                full = f'command_sources.{source}.{key}'
                self.declare_parameter(full, getattr(known, key, None), _descriptor(text))
                self._nested.append(full)
        for zone in self._names('keep_out_zones'):
            full = f'keep_out_zones.{zone}.polygon'
            self.declare_parameter(full, None, _descriptor('Polygon [x1, y1, x2, y2, ...].'))
            self._nested.append(full)
        for waypoint in self._names('waypoints'):
            full = f'waypoints.{waypoint}.pose'
            self.declare_parameter(full, None, _descriptor('Pose [x, y, yaw].'))
            self._nested.append(full)

    def _names(self, parameter: str) -> list[str]:
        value = self.get_parameter(parameter).value
        return [str(v) for v in value] if isinstance(value, (list, tuple)) else []

    def load_config(self) -> GateConfig:
        """Read every gate parameter and validate them together."""
        values: dict[str, Any] = {
            f.name: self.get_parameter(f.name).value for f in fields(GateLimits)
        }
        self._read_parameters()  # reports values refused at declaration
        for name in ('command_sources', 'keep_out_zones', 'waypoints', 'actuator_topics'):
            value = self.get_parameter(name).value
            if isinstance(value, (str, bool, int, float)):  # list(5) raises, list('nav') splits
                what = 'topics' if name == 'actuator_topics' else 'names'
                raise ConfigError(f'parameter {name}: got {value!r}, expected a list of {what}')
            if value is not None:
                values[name] = list(value)
        for name in self._nested:
            value = self.get_parameter(name).value
            if value is None:
                raise ConfigError(f'parameter {name} is missing')
            values[name] = list(value) if isinstance(value, (list, tuple)) else value
        config = gate_config_from_parameters(values)
        if config.limits.navigation_backend == 'nav2' and navigate_to_pose_type() is None:
            raise ConfigError(
                'navigation_backend is nav2, but nav2_msgs does not import: install Nav2 '
                '(ros-<distro>-nav2-msgs) or set navigation_backend to auto or builtin'
            )
        return config

    # ----- lifecycle -------------------------------------------------------------------------
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Validate the configuration, then create every publisher, subscription and server."""
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS or self.config is None:
            return result
        config = self.config
        self._core = GateCore(config, self._now())
        self._approvals = ApprovalBook(config.limits)
        self._reporter = StatusReporter()
        stop_path = self._create_entities(config)
        limits = config.limits
        self.get_logger().info(
            f'configured: {len(config.sources)} command sources '
            f'({", ".join(f"{s.topic}:{s.priority}" for s in config.sources)}), '
            f'{limits.rate_hz:g} Hz, heartbeat '
            f'{"required" if limits.require_heartbeat else "not required"}, e-stop '
            f'{"required" if limits.estop_required else "not required"}, person signal '
            f'{"required" if limits.person_signal_required else "not required"}'
        )
        stop_path.start()  # publishing starts after the configured line, never before
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start forwarding valid commands; the next log line says what holds the robot, if any."""
        with self._lock:
            assert self._core is not None
            self._core.activate(self._now())
        self.get_logger().info('active')
        self._publish(self._now(), force_status=True)
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop motion: zero at once, and zeros from the timer while inactive."""
        with self._lock:
            if self._core is not None:
                self._core.deactivate()
        self._publish(self._now(), force_status=True)
        self.get_logger().info('inactive: publishing zero')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what on_configure created."""
        self._destroy_entities()
        return super().on_cleanup(state)

    def before_exit(self) -> None:
        """The process is ending: publish a last zero so the base is not left moving."""
        if self._core is not None:
            with self._lock:
                self._core.deactivate()
            self._publish(self._now(), force_status=True)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Publish a last zero, then destroy everything."""
        self.before_exit()
        self._destroy_entities()
        return TransitionCallbackReturn.SUCCESS

    def _create_entities(self, config: GateConfig) -> InputThread:
        """Create what the configured gate uses, each with the call that destroys it.

        Returns the stop path, not yet spinning: :meth:`on_configure` starts it.
        """
        made = self._entities

        def publisher(msg_type: Any, topic: str, qos: Any) -> Any:
            entity = self.create_publisher(msg_type, topic, qos)
            made.append((self.destroy_publisher, entity))
            return entity

        def subscribe(msg_type: Any, topic: str, callback: Any, qos: QoSProfile) -> None:
            made.append(
                (
                    self.destroy_subscription,
                    self.create_subscription(msg_type, topic, callback, qos),
                )
            )

        # The stop path: a node and executor thread of its own (``<gate>_inputs``); a callback
        # that raises latches an internal-error stop, publishes zero and ends the process.
        stop_path = InputThread(self, 'inputs', on_error=self.stop_path_failed)
        self._cmd_pub = publisher(Twist, 'cmd_vel', 1)
        self._status_pub = publisher(GateStatus, 'gate_status', LATCHED)
        self._alarm_pub = publisher(Alarm, 'alarms', _RELIABLE)
        self._notice_pub = publisher(OperatorNotice, 'operator_notices', _RELIABLE)
        for source in config.sources:
            stop_path.subscribe(Twist, source.topic, self._command_callback(source), _LATEST)
        for topic, record in (
            ('estop', GateCore.estop),
            ('person_in_zone', GateCore.person_in_zone),
        ):
            # Live messages on the stop path; the latched value (which only a transient-local
            # subscription receives when it matches) on the gate node: every entity on the stop
            # path's wait set costs every command some latency.
            stop_path.subscribe(Bool, topic, self._latching_input(record), _SAFETY_SIGNAL[0])
            subscribe(Bool, topic, self._latching_input(record), _SAFETY_SIGNAL[1])
        stop_path.subscribe(Header, 'heartbeat', self._on_heartbeat, _LATEST)
        subscribe(Odometry, 'odom', self._on_odom, _LATEST)
        subscribe(Range, 'obstacle_distance', self._on_obstacle, _LATEST)
        subscribe(RecoveryProposal, 'recovery_proposals', self._on_proposal, PROPOSALS)
        for srv_type, name, serve in (
            (ResetGate, 'reset', self._on_reset),
            (ApprovePlan, 'approve_plan', self._on_approve),
        ):
            made.append((self.destroy_service, self.create_service(srv_type, name, serve)))
        action = ActionServer(
            self,
            ExecutePlan,
            'execute_plan',
            execute_callback=self._execute_plan,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            handle_accepted_callback=self._on_goal_accepted,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
            result_timeout=900,
        )
        made.append((lambda server: server.destroy(), action))
        soon = self.create_guard_condition(self._run_soon)
        made.append((self.destroy_guard_condition, soon))
        self._soon_guard = soon
        self._triggers = _Triggers(self)
        made.append((lambda triggers: triggers.destroy(), self._triggers))
        action_type = navigate_to_pose_type()
        if config.limits.navigation_backend != 'builtin' and action_type is not None:
            self._nav2 = Nav2Navigator(self, action_type, config.limits, self.call_soon)
            made.append((self._destroy_nav2, self._nav2))
        self._input_tokens = TokenBucket(rate=4.0 * config.limits.rate_hz, burst=3.0)
        # One timer at twice the output rate: every other tick publishes (the fixed rate), the
        # ticks between only watch for a new stop cause. Steady clock: see the module docstring.
        self._ticks = 0
        stop_path.steady_timer(config.period / 2, self._on_timer)
        guard = self.create_timer(1.0 / config.limits.graph_guard_rate, self._on_guard)
        made.append((self.destroy_timer, guard))
        self._actuator_topics = [self.resolve_topic_name(t) for t in config.actuator_topics]
        made.append((lambda path: path.stop(), stop_path))  # last made, so stopped first
        return stop_path

    def _destroy_nav2(self, navigator: Nav2Navigator) -> None:
        navigator.destroy()
        self._nav2 = None

    def call_soon(self, work: Callable[[], None]) -> None:
        """Run ``work`` on this node's executor thread (from any thread)."""
        self._soon.put(work)
        self._soon_guard.trigger()

    def _run_soon(self) -> None:
        while True:
            try:
                work = self._soon.get_nowait()
            except queue.Empty:
                return
            work()

    def _destroy_entities(self) -> None:
        """Destroy what _create_entities made (also on destroy_node, so nothing lingers)."""
        while self._entities:
            destroy, entity = self._entities.pop()
            destroy(entity)
        self._core = None

    def destroy_node(self) -> None:
        """Destroy the configured entities, the action server included, then the node."""
        self._destroy_entities()
        super().destroy_node()

    # ----- output ----------------------------------------------------------------------------
    def _now(self) -> float:
        return float(self.get_clock().now().nanoseconds) * 1e-9

    def _on_timer(self) -> None:
        self._ticks += 1
        now = self._now()
        with self._lock:
            if self._core is None:
                return
            self._core.clock(time.monotonic(), now)
            changed = self._core.changed_since_update(now)
        if self._ticks % 2 == 0 or changed:
            self._publish(now)

    def _publish(self, now: float, force_status: bool = False) -> None:
        """Compute and publish the command (under the lock, so outputs stay in order)."""
        with self._lock:
            if self._core is None:
                return
            output = self._core.update(now)
            twist = Twist()
            twist.linear.x = output.command.linear
            twist.angular.z = output.command.angular
            sending = time.monotonic()
            self._cmd_pub.publish(twist)
            blocked = time.monotonic() - sending
            report = self._reporter.report(output, now, force_status)
            if report.publish:
                self._status_pub.publish(self._status_msg(output, now))
        # rclpy fixes a log call site's severity at its first call: one call site per severity.
        if report.warning:
            self.get_logger().warning(report.warning)
        if report.info:
            self.get_logger().info(report.info)
        if blocked > _PUBLISH_BLOCK_WARNING:
            self.get_logger().warning(
                f'cmd_vel publish blocked for {blocked * 1000:.0f} ms in the middleware with the '
                'interpreter lock held: no output and no stop left the gate meanwhile; the '
                "base's own command timeout bounds it (docs/HAZARDS.md)",
                throttle_duration_sec=5.0,
            )

    def _status_msg(self, output: GateOutput, now: float) -> GateStatus:
        assert self.config is not None
        limits = self.config.limits
        status = GateStatus(
            state=int(output.state),
            active_source=output.active_source,
            active_plan_id=self._slot.plan_id,
            active_step=self._slot.step,
            max_linear_speed=output.max_linear_speed,
            max_angular_speed=output.max_angular_speed,
            max_linear_accel=limits.max_linear_accel,
            max_linear_decel=limits.max_linear_decel,
            speed_limit_reason=output.speed_limit_reason,
            estop_engaged=output.estop_engaged,
            person_in_zone=output.person_in_zone,
            heartbeat_ok=output.heartbeat_ok,
            reset_required=output.reset_required,
            stop_reasons=[stop_reason_msg(stop) for stop in output.stops],
        )
        status.header.stamp = time_msg(now)
        return status

    def stop_path_failed(self, error: Exception) -> None:
        """A stop-path callback raised: latch a stop, publish zero, and end the process."""
        now = self._now()
        with self._lock:
            if self._core is not None:
                self._core.latch_fault(Cause.INTERNAL_ERROR, f'stop path: {error!r}', now)
        self._publish(now, force_status=True)
        self.fail(error)

    # ----- inputs ----------------------------------------------------------------------------
    def _command_callback(self, source: CommandSource) -> Any:
        return lambda msg: self._on_command(source, msg)

    def _on_command(self, source: CommandSource, msg: Twist) -> None:
        now = self._now()
        with self._lock:
            if self._core is None:
                return
            reason = self._core.command(
                source.name,
                (msg.linear.x, msg.linear.y, msg.linear.z),
                (msg.angular.x, msg.angular.y, msg.angular.z),
                now,
            )
        if reason:
            self.get_logger().warning(
                f'refused command from {source.topic}: {reason}', throttle_duration_sec=1.0
            )
        # Publish on input as well as on the timer, within the token bucket (see TokenBucket).
        if reason or self._input_tokens.take(now):
            self._publish(now)

    def _latching_input(self, record: Callable[[GateCore, bool, float], None]) -> Any:
        """A callback for e-stop / person-in-zone: record, and publish at once when engaged."""

        def on_message(msg: Bool) -> None:
            now = self._now()
            with self._lock:
                if self._core is not None:
                    record(self._core, bool(msg.data), now)
            if msg.data:
                self._publish(now)

        return on_message

    def _on_heartbeat(self, msg: Header) -> None:
        stamp = seconds(msg.stamp)
        with self._lock:
            if self._core is None:
                return
            refused = self._core.heartbeat(stamp if stamp > 0 else None, self._now())
        if refused:
            self.get_logger().warning(f'heartbeat refused: {refused}', throttle_duration_sec=2.0)

    def _on_odom(self, msg: Odometry) -> None:
        pose = msg.pose.pose
        twist = msg.twist.twist
        odom = Pose2D(
            float(pose.position.x),
            float(pose.position.y),
            yaw_of(pose.orientation),
            float(twist.linear.x),
            float(twist.angular.z),
        )
        with self._lock:
            if self._core is not None:
                self._core.odometry(odom, self._now())

    def _on_obstacle(self, msg: Range) -> None:
        distance = range_to_distance(float(msg.range), float(msg.min_range), float(msg.max_range))
        with self._lock:
            if self._core is not None:
                self._core.obstacle_distance(distance, self._now())

    def _on_guard(self) -> None:
        """Check that the gate's own publisher is the only one on every actuator topic."""
        publishers = {
            topic: [
                (i.node_namespace, i.node_name) for i in self.get_publishers_info_by_topic(topic)
            ]
            for topic in self._actuator_topics
        }
        own = (self.get_namespace(), self.get_name())
        description = rogue_publishers(publishers, own, self._cmd_pub.topic_name)
        now = self._now()
        with self._lock:
            if self._core is None:
                return
            self._core.rogue_publishers(description, now)
        if description and description != self._reported_rogues:
            self.get_logger().error(f'{description}; latched stop until reset')
            alarm = Alarm(
                source=self.get_fully_qualified_name(),
                code='ROGUE_ACTUATOR_PUBLISHER',
                severity=Alarm.SEVERITY_CRITICAL,
                active=True,
                text=description,
            )
            alarm.header.stamp = time_msg(now)
            self._alarm_pub.publish(alarm)
            self._publish(now)
        self._reported_rogues = description

    def _on_proposal(self, msg: RecoveryProposal) -> None:
        plans = [plan_from_msg(plan) for plan in msg.plans]
        with self._lock:
            self._approvals.learn(plans)

    # ----- services --------------------------------------------------------------------------
    def _on_reset(self, request: ResetGate.Request, response: ResetGate.Response) -> Any:
        now = self._now()
        with self._lock:
            if self._core is None:
                response.success, response.message = False, 'gate is not configured'
                return response
            ok, message, remaining = self._core.reset(request.operator_id, now)
        response.success, response.message = ok, message
        response.remaining = [stop_reason_msg(stop) for stop in remaining]
        text = f'reset by {request.operator_id!r} ({request.reason!r}): {message}'
        if ok:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        self._publish(now, force_status=True)
        return response

    def _on_approve(self, request: ApprovePlan.Request, response: ApprovePlan.Response) -> Any:
        now = self._now()
        decision = DecisionRequest(
            request.operator_id, request.plan_id, request.plan_digest, request.decision,
            request.reason,
        )  # fmt: skip
        with self._lock:
            response.accepted, response.message = self._approvals.decide(decision, now)
        response.recorded_at = time_msg(now)
        self.get_logger().info(f'decision on {request.plan_id!r}: {response.message}')
        return response

    # ----- plan execution --------------------------------------------------------------------
    def _on_goal_accepted(self, goal_handle: Any) -> None:
        """Take the one plan slot for this goal, or remember why not (see PlanSlot)."""
        goal_id = bytes(goal_handle.goal_id.uuid)
        refused = self._slot.reserve(goal_id.hex(), goal_handle.request.plan.id)
        if refused:
            self._refused_goals[goal_id] = refused
        goal_handle.execute()

    async def _execute_plan(self, goal_handle: Any) -> ExecutePlan.Result:
        """Run the plan on a worker thread: the executor stays free meanwhile."""
        goal_id = bytes(goal_handle.goal_id.uuid)
        started = self._now()
        refused = self._refused_goals.pop(goal_id, '')
        if refused or self._core is None:
            error = PlanError.BUSY if refused else PlanError.GATE_NOT_ACTIVE
            outcome = Outcome(error, refused or 'gate is not configured', 0)
            return self._finish(goal_handle, outcome, started)
        core = self._core
        plan = plan_from_msg(goal_handle.request.plan)
        finished: Any = Future()  # rclpy 9 makes Future generic, rclpy 7 does not

        def on_event(event: StepEvent) -> None:
            self._slot.step = event.index
            goal_handle.publish_feedback(
                ExecutePlan.Feedback(
                    step_index=event.index,
                    step_count=event.count,
                    step=goal_handle.request.plan.steps[event.index],
                    step_state=int(event.phase),
                    progress=float(event.update.progress),
                    status_text=event.update.text,
                )
            )

        def work() -> None:
            outcome = Outcome(PlanError.UNKNOWN, 'plan worker ended without an outcome', 0)
            try:
                assert self._triggers is not None
                services = _RobotServices(self, self._triggers)
                runner = PlanRunner(
                    core, self._lock, plan, services, self._approvals, on_event, self._now
                )
                outcome = runner.run(
                    self._now, time.sleep, lambda: bool(goal_handle.is_cancel_requested)
                )
            except BaseException as error:  # fail closed, and never leave the goal hanging
                outcome = Outcome(PlanError.UNKNOWN, f'plan worker failed: {error!r}', 0)
            finally:
                self._slot.release(goal_id.hex())
                self._publish(self._now(), force_status=True)
                finished.set_result(outcome)

        threading.Thread(target=work, name='plan_execution', daemon=True).start()
        return self._finish(goal_handle, await finished, started)

    def _finish(self, goal_handle: Any, outcome: Outcome, started: float) -> ExecutePlan.Result:
        error = outcome.error
        result = ExecutePlan.Result(
            error_code=int(error),
            error_msg='' if error is PlanError.NONE else outcome.message,
            steps_completed=outcome.steps_completed,
        )
        duration = max(0.0, self._now() - started)
        result.total_time.sec = int(duration)
        result.total_time.nanosec = int((duration % 1.0) * 1e9)
        if error is PlanError.NONE:
            goal_handle.succeed()
        elif error is PlanError.CANCELED:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        text = f'plan {goal_handle.request.plan.id!r}: {error.name.lower()} {outcome.message}'
        if error is PlanError.NONE:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return result


@dataclass
class _RobotServices:
    """The ROS side of a plan's steps (:class:`~muse_supervisor.safety.runner.RobotServices`)."""

    node: SafetyGateNode
    triggers: _Triggers

    def notice(
        self, kind: NoticeKind, role: str, message: str, camera: str, plan_id: str, step: int
    ) -> None:
        msg = OperatorNotice(
            kind=int(kind), plan_id=plan_id, step_index=step, role=role, message=message,
            camera=camera,
        )  # fmt: skip
        msg.header.stamp = time_msg(self.node._now())
        self.node._notice_pub.publish(msg)  # publishing is thread-safe in rclpy

    def start_trigger(self, service: str) -> None:
        self.triggers.start(service)

    def trigger_available(self, service: str) -> bool:
        return self.triggers.available(service)

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        return self.triggers.result(service)

    def navigate(
        self, x: float, y: float, yaw: float, frame: str, on_accepted: Callable[[], None]
    ) -> Navigation | None:
        nav2 = self.node._nav2
        if nav2 is None:
            return None  # auto without nav2_msgs
        return nav2.start(x, y, yaw, frame, self.node._now(), on_accepted)


class _Triggers:
    """``std_srvs/Trigger`` calls for the plan worker, made on the gate's executor thread.

    One client per service, kept until cleanup (a client made just before a call can miss its
    response while DDS is still matching). The worker only reads what the executor thread set.
    """

    def __init__(self, node: SafetyGateNode) -> None:
        self._node = node
        self._clients: dict[str, Any] = {}
        self._futures: dict[str, Any] = {}

    def start(self, service: str) -> None:
        self._futures.pop(service, None)
        self._node.call_soon(lambda: self._advance(service))

    def available(self, service: str) -> bool:
        return service in self._futures

    def result(self, service: str) -> tuple[bool, str] | None:
        future = self._futures.get(service)
        if future is None:
            self._node.call_soon(lambda: self._advance(service))
            return None
        if not future.done():
            return None
        response = future.result()
        if response is None:
            return False, f'service {service} failed'
        return bool(response.success), str(response.message)

    def destroy(self) -> None:
        for client in self._clients.values():
            self._node.destroy_client(client)
        self._clients.clear()

    def _advance(self, service: str) -> None:  # on the executor thread
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self._node.create_client(Trigger, service)
        if service not in self._futures and client.service_is_ready():
            self._futures[service] = client.call_async(Trigger.Request())


def _descriptor(text: str) -> ParameterDescriptor:
    return ParameterDescriptor(description=text, read_only=True, dynamic_typing=True)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``safety_gate_node`` executable."""
    return run(SafetyGateNode, args)
