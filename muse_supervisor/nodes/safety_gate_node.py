"""``safety_gate_node``: the only component that may command actuators; fails closed.

A thin lifecycle node around :class:`~muse_supervisor.safety.gate.GateCore`: it converts the
messages it watches into core inputs, publishes ``cmd_vel`` from its own timer (and at once on
inputs that change it), guards the graph against other actuator publishers, records operator
approvals, resets latched stops for an identified operator, and executes approved plans step by
step through the skill executors, every motion going through the same rules.

Concurrency: the stop path (command sources, e-stop, person in zone, heartbeat and the output
timer) runs on a small node of its own, ``<gate name>_inputs``, spun by its own executor thread;
odometry, obstacle distance, proposals, the graph guard, services, the action server and the
lifecycle stay on the gate node's executor. A flood on any of those cannot delay a stop, and each
dispatch on the stop path waits on a handful of entities instead of the lifecycle node's dozens
(in rclpy that wait-set rebuild is most of the gate's added latency). Every input has a depth-1
queue, and every call into the core holds one lock. ``cmd_vel`` is published by the gate node
itself, so the graph shows the gate as its only publisher.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from sensor_msgs.msg import Range
from std_msgs.msg import Bool, Header
from std_srvs.srv import Trigger

from muse_supervisor.action import ExecutePlan
from muse_supervisor.domain import SKILLS, Skill
from muse_supervisor.msg import Alarm, GateStatus, OperatorNotice, RecoveryProposal
from muse_supervisor.nodes.conversions import (
    plan_from_msg,
    seconds,
    stop_reason_msg,
    time_msg,
    yaw_of,
)
from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.nodes.nav2_navigation import Nav2Navigator, navigate_to_pose_type
from muse_supervisor.params import ConfigError
from muse_supervisor.safety.config import (
    CommandSource,
    GateConfig,
    GateLimits,
    KeepOutZone,
    gate_config_from_parameters,
)
from muse_supervisor.safety.gate import ZERO, Cause, GateCore, GateOutput, Pose2D
from muse_supervisor.safety.plans import Approval, Plan, PlanError, validate_plan
from muse_supervisor.safety.skills import (
    EXECUTORS,
    Navigation,
    NoticeKind,
    SkillExecutor,
    StepState,
    StepUpdate,
    step_timeout,
)
from muse_supervisor.srv import ApprovePlan, ResetGate

# nav -> cmd_vel_nav (priority 10), teleop -> cmd_vel_teleop (100), 0.5 s each.
_DEFAULT_SOURCES = {source.name: source for source in GateConfig().sources}
_LATEST = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
_RELIABLE = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
_LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
_PROPOSALS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
_STATUS_PERIOD = 1.0  # s between status messages when nothing changes
_FEEDBACK_PERIOD = 0.5  # s between progress feedback messages within a step


class SafetyGateNode(SupervisorNode[GateConfig]):
    """The only component that may command actuators; fails closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('safety_gate', GateLimits, **kwargs)
        self._lock = threading.Lock()
        self._core: GateCore | None = None
        self._entities: list[tuple[Any, Any]] = []
        self._input_tokens = _TokenBucket(rate=0.0, burst=0.0)  # sized on configure
        self._last_status: tuple[Any, ...] = ()
        self._last_status_time = -math.inf
        self._reported_rogues = ''
        self._plans: dict[str, Plan] = {}
        self._approvals: dict[str, Approval] = {}
        self._plan_running = threading.Event()
        self._published_stops: tuple[Any, ...] = ()
        self._published_source = ''
        self._ticks = 0
        self._running_plan_id = ''
        self._running_step = -1
        self._soon: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._nav2: Nav2Navigator | None = None
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
        self._create_entities(config)
        self.get_logger().info(
            f'configured: {len(config.sources)} command sources '
            f'({", ".join(f"{s.topic}:{s.priority}" for s in config.sources)}), '
            f'{config.limits.rate_hz:g} Hz, heartbeat '
            f'{"required" if config.limits.require_heartbeat else "not required"}'
        )
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start forwarding valid commands."""
        with self._lock:
            assert self._core is not None
            self._core.activate(self._now())
        self._publish(self._now(), force_status=True)
        self.get_logger().info('active: forwarding valid commands within limits')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop motion: zero at once, and zeros from the timer while inactive."""
        with self._lock:
            if self._core is not None:
                self._core.deactivate()
        self._publish(self._now(), force_status=True)
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

    def _create_entities(self, config: GateConfig) -> None:
        """Create what the configured gate uses; each with the call that destroys it."""
        made = self._entities

        def publisher(msg_type: Any, topic: str, qos: Any) -> Any:
            entity = self.create_publisher(msg_type, topic, qos)
            made.append((self.destroy_publisher, entity))
            return entity

        def subscribe(msg_type: Any, topic: str, callback: Any, qos: QoSProfile) -> None:
            group = MutuallyExclusiveCallbackGroup()  # one per input: none waits for another
            entity = self.create_subscription(msg_type, topic, callback, qos, callback_group=group)
            made.append((self.destroy_subscription, entity))

        stop_path = _StopPath(self)

        self._cmd_pub = publisher(Twist, 'cmd_vel', 1)
        self._status_pub = publisher(GateStatus, 'gate_status', _LATCHED)
        self._alarm_pub = publisher(Alarm, 'alarms', _RELIABLE)
        self._notice_pub = publisher(OperatorNotice, 'operator_notices', _RELIABLE)
        for source in config.sources:
            stop_path.subscribe(Twist, source.topic, self._command_callback(source), _LATEST)
        stop_path.subscribe(Bool, 'estop', self._latching_input(GateCore.estop), _RELIABLE)
        stop_path.subscribe(
            Bool, 'person_in_zone', self._latching_input(GateCore.person_in_zone), _RELIABLE
        )
        stop_path.subscribe(Header, 'heartbeat', self._on_heartbeat, _LATEST)
        subscribe(Odometry, 'odom', self._on_odom, _LATEST)
        subscribe(Range, 'obstacle_distance', self._on_obstacle, _LATEST)
        subscribe(RecoveryProposal, 'recovery_proposals', self._on_proposal, _PROPOSALS)
        services = MutuallyExclusiveCallbackGroup()
        for srv_type, name, serve in (
            (ResetGate, 'reset', self._on_reset),
            (ApprovePlan, 'approve_plan', self._on_approve),
        ):
            service = self.create_service(srv_type, name, serve, callback_group=services)
            made.append((self.destroy_service, service))
        self._trigger_group = MutuallyExclusiveCallbackGroup()
        action = ActionServer(
            self,
            ExecutePlan,
            'execute_plan',
            execute_callback=self._execute_plan,
            goal_callback=self._on_goal,
            handle_accepted_callback=lambda goal_handle: goal_handle.execute(),
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
            result_timeout=900,
        )
        made.append((lambda server: server.destroy(), action))
        soon = self.create_guard_condition(self._run_soon, MutuallyExclusiveCallbackGroup())
        made.append((self.destroy_guard_condition, soon))
        self._soon_guard = soon
        action_type = navigate_to_pose_type()
        if config.limits.navigation_backend != 'builtin' and action_type is not None:
            self._nav2 = Nav2Navigator(self, action_type, config.limits, self._call_soon)
            made.append((self._destroy_nav2, self._nav2))
        self._input_tokens = _TokenBucket(rate=4.0 * config.limits.rate_hz, burst=3.0)
        # One timer at twice the output rate: every other tick publishes (the fixed rate), the
        # ticks between only watch for a new stop cause.
        self._ticks = 0
        stop_path.node.create_timer(config.period / 2, self._on_timer)
        guard = self.create_timer(
            1.0 / config.limits.graph_guard_rate,
            self._on_guard,
            callback_group=MutuallyExclusiveCallbackGroup(),
        )
        made.append((self.destroy_timer, guard))
        self._actuator_topics = [self.resolve_topic_name(t) for t in config.actuator_topics]
        stop_path.start()
        made.append((lambda path: path.stop(), stop_path))  # last made, so stopped first

    def _destroy_nav2(self, navigator: Nav2Navigator) -> None:
        navigator.destroy()
        self._nav2 = None

    def _call_soon(self, work: Callable[[], None]) -> None:
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
        if self._ticks % 2 == 0 or self._changed(now):
            self._publish(now)

    def _changed(self, now: float) -> bool:
        """Whether a new stop cause or another source appeared since the last publish.

        Staleness is a matter of time, not of an input arriving: checked between the output
        ticks, a source that goes silent is noticed within half a period, not a whole one.
        """
        with self._lock:
            if self._core is None:
                return False
            current = {stop.cause for stop in self._core.stops(now)}
            source = self._core.active_source(now)
        published = {stop.cause for stop in self._published_stops}
        return bool(current - published) or source != self._published_source

    def _publish(self, now: float, force_status: bool = False) -> None:
        """Compute and publish the command (under the lock, so outputs stay in order)."""
        with self._lock:
            if self._core is None:
                return
            output = self._core.update(now)
            twist = Twist()
            twist.linear.x = output.command.linear
            twist.angular.z = output.command.angular
            self._cmd_pub.publish(twist)
            self._published_stops = output.stops
            self._published_source = output.active_source
            self._publish_status(output, now, force_status)

    def _publish_status(self, output: GateOutput, now: float, force: bool) -> None:
        key = (
            output.state,
            output.active_source,
            tuple((s.cause, s.latched) for s in output.stops),
        )
        if (
            not force
            and key == self._last_status
            and now - self._last_status_time < _STATUS_PERIOD
        ):
            return
        if key != self._last_status and output.stops:
            causes = ', '.join(f'{s.cause.name.lower()}: {s.detail}' for s in output.stops)
            self.get_logger().warning(f'stopped ({causes})')
        self._last_status, self._last_status_time = key, now
        status = GateStatus(
            state=int(output.state),
            active_source=output.active_source,
            active_plan_id=self._running_plan_id,
            active_step=self._running_step,
            max_linear_speed=output.max_linear_speed,
            max_angular_speed=output.max_angular_speed,
            estop_engaged=output.estop_engaged,
            person_in_zone=output.person_in_zone,
            heartbeat_ok=output.heartbeat_ok,
            stop_reasons=[stop_reason_msg(stop) for stop in output.stops],
        )
        assert self.config is not None
        status.max_linear_accel = self.config.limits.max_linear_accel
        status.max_linear_decel = self.config.limits.max_linear_decel
        status.header.stamp = time_msg(now)
        self._status_pub.publish(status)

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
        # Publish on input as well as on the timer, so the gate adds little latency. A token
        # bucket (four times the timer rate, bursts of three) keeps a flooding source from
        # flooding cmd_vel; what it holds back goes out on the next timer tick.
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
            if self._core is not None:
                self._core.heartbeat(stamp if stamp > 0 else None, self._now())

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
        distance = float(msg.range)
        if not msg.min_range <= distance <= msg.max_range:
            distance = math.nan  # out of the sensor's range: unknown
        with self._lock:
            if self._core is not None:
                self._core.obstacle_distance(distance, self._now())

    def _on_guard(self) -> None:
        """Check that the gate is the only publisher on every actuator topic."""
        rogues = []
        me = (self.get_name(), self.get_namespace())
        for topic in self._actuator_topics:
            for info in self.get_publishers_info_by_topic(topic):
                if (info.node_name, info.node_namespace) != me:
                    rogues.append(f'{info.node_namespace.rstrip("/")}/{info.node_name} on {topic}')
        description = ''
        if rogues:
            description = 'other publisher(s) on actuator topics: ' + ', '.join(sorted(rogues))
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
        with self._lock:
            for plan in msg.plans:
                self._plans[plan.id] = plan_from_msg(plan)

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
        # rclpy fixes a log call site's severity at its first call: one call site per severity.
        text = f'reset by {request.operator_id!r} ({request.reason!r}): {message}'
        if ok:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        self._publish(now, force_status=True)
        return response

    def _on_approve(self, request: ApprovePlan.Request, response: ApprovePlan.Response) -> Any:
        now = self._now()
        response.recorded_at = time_msg(now)
        operator = request.operator_id.strip()
        with self._lock:
            plan = self._plans.get(request.plan_id)
            if not operator:
                response.accepted = False
                response.message = 'operator_id is empty: every decision needs an operator'
            elif request.decision not in (
                ApprovePlan.Request.DECISION_APPROVE,
                ApprovePlan.Request.DECISION_REJECT,
            ):
                response.accepted = False
                response.message = f'unknown decision {request.decision}; expected 1 or 2'
            elif plan is None:
                response.accepted = False
                response.message = (
                    f'unknown plan {request.plan_id!r}: the gate approves only plans it has '
                    'received in a RecoveryProposal'
                )
            elif request.decision == ApprovePlan.Request.DECISION_APPROVE:
                self._approvals[plan.id] = Approval(
                    plan.id, plan.digest(), operator, request.reason, now
                )
                response.accepted = True
                response.message = f'plan {plan.id} approved by {operator}'
            else:
                self._approvals.pop(plan.id, None)
                response.accepted = True
                response.message = f'plan {plan.id} rejected by {operator}'
        self.get_logger().info(f'decision on {request.plan_id!r}: {response.message}')
        return response

    # ----- plan execution --------------------------------------------------------------------
    def _on_goal(self, goal: ExecutePlan.Goal) -> GoalResponse:
        if self._plan_running.is_set():
            self.get_logger().warning(f'refused plan {goal.plan.id!r}: another plan is running')
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    async def _execute_plan(self, goal_handle: Any) -> ExecutePlan.Result:
        """Run the plan on a thread of its own: the executor stays free for stops meanwhile."""
        finished: Any = Future()  # rclpy 9 makes Future generic, rclpy 7 does not

        def work() -> None:
            try:
                finished.set_result(self._execute_plan_blocking(goal_handle))
            except BaseException as error:  # fail closed, and never leave the goal hanging
                result = ExecutePlan.Result(error_code=int(PlanError.UNKNOWN))
                finished.set_result((result, PlanError.UNKNOWN, f'plan worker failed: {error!r}'))

        threading.Thread(target=work, name='plan_execution', daemon=True).start()
        result, error, message = await finished
        return self._finish(goal_handle, result, error, message)

    def _execute_plan_blocking(
        self, goal_handle: Any
    ) -> tuple[ExecutePlan.Result, PlanError, str]:
        started = self._now()
        result = ExecutePlan.Result()
        plan = plan_from_msg(goal_handle.request.plan)
        if self._plan_running.is_set():
            return result, PlanError.UNKNOWN, 'another plan is running'
        self._plan_running.set()
        try:
            error, message, done = self._run_plan(goal_handle, plan)
        except Exception as exc:  # fail closed: an error anywhere means stop and say why
            with self._lock:
                if self._core is not None:
                    self._core.latch_fault(
                        Cause.INTERNAL_ERROR, f'plan execution: {exc!r}', started
                    )
            error, message, done = PlanError.UNKNOWN, f'plan execution failed: {exc!r}', 0
        finally:
            with self._lock:
                if self._core is not None:
                    self._core.set_plan_running(False, self._now())
            self._running_plan_id, self._running_step = '', -1
            self._plan_running.clear()
            self._publish(self._now(), force_status=True)
        result.steps_completed = done
        duration = max(0.0, self._now() - started)
        result.total_time.sec = int(duration)
        result.total_time.nanosec = int((duration % 1.0) * 1e9)
        return result, error, message

    def _finish(
        self, goal_handle: Any, result: ExecutePlan.Result, error: PlanError, message: str
    ) -> ExecutePlan.Result:
        result.error_code = int(error)
        result.error_msg = '' if error is PlanError.NONE else message
        if error is PlanError.NONE:
            goal_handle.succeed()
        elif error is PlanError.CANCELED:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        text = f'plan {goal_handle.request.plan.id!r}: {error.name.lower()} {message}'.rstrip()
        if error is PlanError.NONE:
            self.get_logger().info(text)
        else:
            self.get_logger().warning(text)
        return result

    def _run_plan(self, goal_handle: Any, plan: Plan) -> tuple[PlanError, str, int]:
        """Validate, then run every step; return (error, message, steps completed)."""
        now = self._now()
        with self._lock:
            if self._core is None or self.config is None:
                return PlanError.GATE_NOT_ACTIVE, 'gate is not configured', 0
            if any(s.cause is Cause.NOT_ACTIVE for s in self._core.stops(now)):
                return PlanError.GATE_NOT_ACTIVE, 'gate is not active', 0
            verdict = validate_plan(
                plan, self.config, self._approvals, self._core.invariant_active(now)
            )
            if not verdict.ok:
                return verdict.error, verdict.message, 0
            self._core.set_plan_running(True, now)
            # The step gets a fresh command before the stale check can fire.
            self._core.plan_command(ZERO, now)
        self._running_plan_id = plan.id
        context = _NodeSkillContext(self)
        for index in range(len(plan.steps)):
            self._running_step = index
            outcome = self._run_step(goal_handle, plan, index, context)
            if outcome is not None:
                return outcome[0], outcome[1], index
        return PlanError.NONE, 'plan completed', len(plan.steps)

    def _run_step(
        self, goal_handle: Any, plan: Plan, index: int, context: _NodeSkillContext
    ) -> tuple[PlanError, str] | None:
        assert self.config is not None
        step = plan.steps[index]
        start = self._now()
        context.step_index = index
        skill = Skill(step.skill)  # known: the plan passed validation
        executor = EXECUTORS[skill](step, start, context)
        started = StepUpdate(StepState.RUNNING, None, 0.0, 'started')
        self._feedback(goal_handle, plan, index, started, ExecutePlan.Feedback.STEP_STARTED)
        try:
            return self._tick_step(goal_handle, plan, index, executor, start)
        finally:
            executor.close()  # e.g. cancel the step's Nav2 goal, then take its source back
            with self._lock:
                if self._core is not None:
                    self._core.delegate_plan_motion('')

    def _tick_step(
        self, goal_handle: Any, plan: Plan, index: int, executor: SkillExecutor, start: float
    ) -> tuple[PlanError, str] | None:
        """Tick the step's executor at the gate's rate until it ends; return as _run_step."""
        assert self.config is not None
        step = plan.steps[index]
        skill = Skill(step.skill)
        deadline = start + step_timeout(step)
        last_feedback = start
        while True:
            now = self._now()
            if goal_handle.is_cancel_requested:
                with self._lock:
                    if self._core is not None:
                        self._core.cancel_plan(now)
                self._publish(now)
                return PlanError.CANCELED, f'canceled during step {index}'
            with self._lock:
                if self._core is None:
                    return PlanError.GATE_NOT_ACTIVE, 'gate was cleaned up'
                blocked = self._core.invariant_active(now)
                inactive = any(s.cause is Cause.NOT_ACTIVE for s in self._core.stops(now))
            if inactive:
                return PlanError.GATE_NOT_ACTIVE, f'gate deactivated during step {index}'
            if blocked and SKILLS[skill].moves_robot:
                return PlanError.SAFETY_INVARIANT_ACTIVE, f'step {index} stopped: {blocked}'
            update = executor.tick(now)
            with self._lock:
                if self._core is not None:
                    self._core.plan_command(update.command or ZERO, now)
            if update.state is StepState.SUCCEEDED:
                self._feedback(
                    goal_handle, plan, index, update, ExecutePlan.Feedback.STEP_SUCCEEDED
                )
                return None
            if update.state is StepState.FAILED:
                self._feedback(goal_handle, plan, index, update, ExecutePlan.Feedback.STEP_FAILED)
                return PlanError.STEP_FAILED, f'step {index} failed: {update.text}'
            if now > deadline:
                self._feedback(goal_handle, plan, index, update, ExecutePlan.Feedback.STEP_FAILED)
                return PlanError.STEP_TIMEOUT, (
                    f'step {index} took longer than {step_timeout(step):g} s ({update.text})'
                )
            if now - last_feedback >= _FEEDBACK_PERIOD:
                self._feedback(goal_handle, plan, index, update, ExecutePlan.Feedback.STEP_RUNNING)
                last_feedback = now
            time.sleep(self.config.period)

    def _feedback(
        self, goal_handle: Any, plan: Plan, index: int, update: StepUpdate, state: int
    ) -> None:
        feedback = ExecutePlan.Feedback(
            step_index=index,
            step_count=len(plan.steps),
            step=goal_handle.request.plan.steps[index],
            step_state=state,
            progress=float(update.progress),
            status_text=update.text,
        )
        goal_handle.publish_feedback(feedback)


class _NodeSkillContext:
    """What skill executors may do, carried out by the gate node."""

    def __init__(self, node: SafetyGateNode) -> None:
        assert node.config is not None
        self.node = node
        self.config = node.config
        self.step_index = 0
        self._calls: dict[str, Any] = {}

    def pose(self) -> Pose2D | None:
        with self.node._lock:
            core = self.node._core
            return core.pose(self.node._now()) if core is not None else None

    def notice(self, kind: NoticeKind, role: str, message: str, camera: str) -> None:
        msg = OperatorNotice(
            kind=int(kind),
            plan_id=self.node._running_plan_id,
            step_index=self.step_index,
            role=role,
            message=message,
            camera=camera,
        )
        msg.header.stamp = time_msg(self.node._now())
        self.node._notice_pub.publish(msg)

    def set_speed_cap(self, cap: float | None) -> None:
        with self.node._lock:
            if self.node._core is not None:
                self.node._core.set_speed_cap(cap)

    def add_keep_out(self, zone: KeepOutZone) -> None:
        with self.node._lock:
            if self.node._core is not None:
                self.node._core.add_keep_out_zone(zone)

    def navigate(self, x: float, y: float, yaw: float, frame: str) -> Navigation | None:
        nav2 = self.node._nav2
        if nav2 is None:
            return None  # builtin, or auto without nav2_msgs
        source = self.config.limits.nav2_source
        frame = frame or self.config.limits.nav2_frame
        return nav2.start(x, y, yaw, frame, self.node._now(), lambda: self._delegate(source))

    def _delegate(self, source: str) -> None:
        with self.node._lock:
            if self.node._core is not None:
                self.node._core.delegate_plan_motion(source)

    def start_trigger(self, service: str) -> None:
        client: Any = self.node.create_client(
            Trigger, service, callback_group=self.node._trigger_group
        )
        self._calls[service] = (client, None, time.monotonic())

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        client, future, started = self._calls[service]
        if future is None:
            if client.service_is_ready():
                future = client.call_async(Trigger.Request())
                self._calls[service] = (client, future, started)
            elif time.monotonic() - started > 5.0:
                return False, f'service {service} not available'
            return None
        if not future.done():
            return None
        response = future.result()
        self.node.destroy_client(client)
        if response is None:
            return False, f'service {service} failed'
        return bool(response.success), str(response.message)


class _StopPath:
    """The inputs that move or stop the robot, on a node and an executor thread of their own.

    The node (``<gate name>_inputs``, same namespace) has no parameters, services or publishers:
    its executor waits on the stop-path subscriptions and the output timer only. It ignores the
    process's global arguments (which rename the gate node with ``__node:=``), so every topic is
    resolved, remappings included, by the gate node first. An exception in a callback latches an
    internal-error stop and ends the process (see :meth:`SupervisorNode.fail`): the gate never
    goes on silently without its output timer.
    """

    def __init__(self, gate: SafetyGateNode) -> None:
        self.gate = gate
        self.node = Node(
            f'{gate.get_name()}_inputs',
            namespace=gate.get_namespace(),
            context=gate.context,
            use_global_arguments=False,
            start_parameter_services=False,
            enable_rosout=False,
        )
        self._executor = SingleThreadedExecutor(context=gate.context)
        self._stopped: Any = Future()
        self._thread = threading.Thread(target=self._spin, name='gate_stop_path', daemon=True)

    def subscribe(self, msg_type: Any, topic: str, callback: Any, qos: QoSProfile) -> None:
        """Subscribe on the stop path to ``topic`` as the gate node resolves it."""
        self.node.create_subscription(msg_type, self.gate.resolve_topic_name(topic), callback, qos)

    def start(self) -> None:
        """Start spinning (after every subscription and the timer exist)."""
        self._executor.add_node(self.node)
        self._thread.start()

    def stop(self) -> None:
        """Stop spinning, wait for the callback in progress, and destroy the node."""
        self._stopped.set_result(True)  # wakes the executor, which then returns
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self._executor.shutdown()
        self.node.destroy_node()

    def _spin(self) -> None:
        try:
            self._executor.spin_until_future_complete(self._stopped)
        except ExternalShutdownException:
            pass  # the context is going down: the process is exiting anyway
        except Exception as error:  # fail closed: stop, say why, and end the process
            self.gate.stop_path_failed(error)


class _TokenBucket:
    """At most ``rate`` events per second on average, in bursts of up to ``burst``."""

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


def _descriptor(text: str) -> ParameterDescriptor:
    return ParameterDescriptor(description=text, read_only=True, dynamic_typing=True)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``safety_gate_node`` executable."""
    return run(SafetyGateNode, args)
