"""The lifecycle base every node of the stack shares, and the process entry point that runs it.

Every node is a managed (lifecycle) node: parameters are declared at construction, read and
validated in ``on_configure``, and work starts only in ``on_activate``. With ``autostart:=true``
a node configures and activates itself, for stacks started without a lifecycle manager; without
it, the node says every few seconds that it waits, unconfigured, for one.

A node refuses to configure (and with ``autostart`` its process exits with status 1), with the
reason in the log, when its parameters are wrong in any way ROS itself would let pass:

- a parameter file given with ``--params-file`` none of whose sections applies to the node
  (a mistyped node key: the node would run on defaults);
- an override (file or ``-p``) that names no declared parameter (a misspelt name: ROS ignores
  it, and the parameter keeps its default);
- a value of the wrong type or out of range (each refusal names the parameter, the value and
  what was expected).

Once configured it logs, on one line, every parameter's value and where it came from.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import rclpy
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future
from rclpy.utilities import get_default_context

from muse_supervisor.params import ConfigError, param
from muse_supervisor.params.files import (
    ParamsFile,
    command_line_parameters,
    file_values,
    params_file_paths,
    read_params_file,
    sections_error,
)
from muse_supervisor.params.ros import declare_config, parameter_overrides
from muse_supervisor.params.spec import unknown_parameters

ConfigT = TypeVar('ConfigT')
EntityT = TypeVar('EntityT')

# The arguments each context was initialised with (rclpy keeps no copy of them): run() records
# them, so that a node can read the --params-file paths that apply to it.
_CONTEXT_ARGUMENTS: weakref.WeakKeyDictionary[Context, tuple[str, ...]] = (
    weakref.WeakKeyDictionary()
)
REMINDER_PERIOD = 10.0  # s between "waiting for a lifecycle manager" warnings
_QUIET_PARAMETERS = frozenset({'start_type_description_service'})  # rclpy's, never of interest


def remember_arguments(context: Context, args: Sequence[str]) -> None:
    """Record the arguments ``context`` was initialised with (``run`` does this)."""
    _CONTEXT_ARGUMENTS[context] = tuple(args)


@dataclass(frozen=True)
class LifecycleParameters:
    """The parameters every node has, whatever its own configuration."""

    autostart: bool = param(
        False, 'Configure and activate at start-up, without a lifecycle manager; a process '
        'whose autostart fails exits with status 1.',
    )  # fmt: skip


class Entities:
    """What a node made on configure, each kept with the call that destroys it.

    One list per node, destroyed together on cleanup and shutdown (newest first), so that a
    reconfigured node never keeps a stale publisher or subscription beside the new one.
    """

    def __init__(self, node: LifecycleNode) -> None:
        self._node = node
        self._made: list[tuple[Callable[[Any], Any], Any]] = []

    def keep(self, destroy: Callable[[EntityT], Any], entity: EntityT) -> EntityT:
        """Remember ``entity`` and how to destroy it; return it."""
        self._made.append((destroy, entity))
        return entity

    def publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        """A publisher, kept."""
        node = self._node
        return self.keep(node.destroy_publisher, node.create_publisher(msg_type, topic, qos))

    def subscription(self, msg_type: Any, topic: str, callback: Any, qos: Any) -> Any:
        """A subscription, kept."""
        node = self._node
        entity = node.create_subscription(msg_type, topic, callback, qos)
        return self.keep(node.destroy_subscription, entity)

    def service(self, srv_type: Any, name: str, callback: Any) -> Any:
        """A service server, kept."""
        node = self._node
        return self.keep(node.destroy_service, node.create_service(srv_type, name, callback))

    def timer(self, period: float, callback: Any, clock: Clock | None = None) -> Any:
        """A timer, kept."""
        node = self._node
        return self.keep(node.destroy_timer, node.create_timer(period, callback, clock=clock))

    def destroy(self) -> None:
        """Destroy everything kept, newest first."""
        while self._made:
            destroy, entity = self._made.pop()
            destroy(entity)


class InputThread:
    """A few latency-critical subscriptions on a node and an executor thread of their own.

    rclpy's executor rebuilds its wait set from every entity of its nodes on each spin, so a
    lifecycle node with services, timers and a dozen subscriptions adds that work to every
    message it takes. A small plain node beside it (``<owner>_<suffix>``, same namespace, no
    parameter services, no rosout) waits on these subscriptions alone. Topics are resolved by
    the owner, remappings included (the node ignores the process's global arguments, which
    rename the owner with ``__node:=``). An exception in a callback goes to ``on_error``, by
    default the owner's :meth:`~SupervisorNode.fail`: the process ends, never goes on quietly.
    The gate's stop path is one (``<gate>_inputs``), the perception node's camera another.
    """

    def __init__(
        self,
        owner: SupervisorNode[Any],
        suffix: str,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.owner = owner
        self._on_error = on_error or owner.fail
        self.node = Node(
            f'{owner.get_name()}_{suffix}',
            namespace=owner.get_namespace(),
            context=owner.context,
            use_global_arguments=False,
            start_parameter_services=False,
            enable_rosout=False,
        )
        self._executor = SingleThreadedExecutor(context=owner.context)
        self._executor.add_node(self.node)
        self._thread: threading.Thread | None = None
        self._stopped: Any = None  # a Future (generic in Kilted's rclpy, not in Jazzy's)

    def subscribe(self, msg_type: Any, topic: str, callback: Any, qos: Any) -> Any:
        """Subscribe to ``topic`` as the owner resolves it."""
        resolved = self.owner.resolve_topic_name(topic)
        return self.node.create_subscription(msg_type, resolved, callback, qos)

    def steady_timer(self, period: float, callback: Callable[[], None]) -> Any:
        """A timer on the steady clock: it fires whatever ``/clock`` does."""
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        return self.node.create_timer(period, callback, clock=steady)

    def start(self) -> None:
        """Spin on a thread of its own."""
        self._stopped = Future()
        self._thread = threading.Thread(target=self._spin, name=self.node.get_name(), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop spinning (the callback in progress finishes) and destroy the node."""
        if self._stopped is not None:
            self._stopped.set_result(True)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._executor.shutdown()
        self.node.destroy_node()

    def _spin(self) -> None:
        assert self._stopped is not None
        try:
            self._executor.spin_until_future_complete(self._stopped)
        except ExternalShutdownException:
            pass  # the context is going down: the process is exiting anyway
        except Exception as error:  # a bug in a callback: say so and end, never go quiet
            self._on_error(error)


def wait_for_future(future: Any, end: float) -> Any:
    """The future's result, or ``None`` if it is not done by ``end`` (monotonic).

    For threads other than the executor's (a worker, a web server's), which wait on a service
    or action future while the executor completes it.
    """
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    if not done.wait(max(0.0, end - time.monotonic())):
        return None
    return future.result()


class SupervisorNode(LifecycleNode, Generic[ConfigT]):
    """A lifecycle node whose parameters are the fields of a frozen configuration dataclass.

    ``parameters`` is the dataclass declared as ROS parameters; :meth:`load_config` turns the
    values into the node's configuration (by default, that dataclass itself).
    """

    def __init__(self, node_name: str, parameters: type[Any], **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        # Arguments that apply to this node: its own, and its context's unless it ignores them.
        own = list(kwargs.get('cli_args') or [])
        shared = (
            _CONTEXT_ARGUMENTS.get(self.context, ())
            if kwargs.get('use_global_arguments', True)
            else ()
        )
        self._arguments = [*shared, *own]
        self._read_lifecycle = declare_config(self, LifecycleParameters)
        self._read_parameters = declare_config(self, parameters)
        self.entities = Entities(self)
        self.config: ConfigT | None = None
        self._failure: BaseException | None = None
        self._lifecycle_state = 'unconfigured'
        self._configure_refused = False
        self._reminded_at = -math.inf
        # Steady time: under use_sim_time with no /clock yet, a ROS-time timer would never fire.
        self._reminder = self.create_timer(
            1.0, self._remind, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )

    def load_config(self) -> ConfigT:
        """Read and validate the configuration; raise ConfigError when it is invalid."""
        return cast(ConfigT, self._read_parameters())

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Check where the parameters came from, read and validate them; refuse when invalid.

        Every problem found is reported in one error line: a parameter file that does not apply
        to this node, overrides naming no declared parameter, and invalid values.
        """
        errors = self.parameter_source_errors()
        try:
            self._read_lifecycle()
            self.config = self.load_config()
        except ConfigError as error:
            errors.append(str(error))
        except Exception as error:
            # A value of a shape the reader did not foresee: still refuse, and say where (rclpy
            # would turn the exception into a failed transition without a word).
            frame = traceback.extract_tb(error.__traceback__)[-1]
            errors.append(
                f'unexpected {type(error).__name__} while reading the parameters: {error} '
                f'(at {frame.filename}:{frame.lineno})'
            )
        if errors:
            self.config = None
            self._configure_refused = True
            self.get_logger().error(f'invalid configuration, not configuring: {"; ".join(errors)}')
            return TransitionCallbackReturn.FAILURE
        self._configure_refused = False
        self._lifecycle_state = 'inactive'
        self.get_logger().info(f'parameters: {self.parameter_summary()}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start work (a node starts its timers and threads, then calls this)."""
        self._lifecycle_state = 'active'
        self._reminder.cancel()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop work; remind, as while unconfigured, that the node waits to be activated."""
        self.stop_work()
        self._lifecycle_state = 'inactive'
        self._reminded_at = -math.inf
        self._reminder.reset()
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop work, destroy what configure made, forget the configuration."""
        self.stop_work()
        self.entities.destroy()
        self.config = None
        self._lifecycle_state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop work and destroy what configure made."""
        self.stop_work()
        self.entities.destroy()
        return TransitionCallbackReturn.SUCCESS

    def stop_work(self) -> None:
        """Stop what ``on_activate`` started (timers, worker threads); a node overrides it.

        Called on deactivate, cleanup and shutdown, so it must be safe to call when nothing runs.
        """

    # ----- where the parameters came from -----------------------------------------------------
    def _params_files(self) -> list[ParamsFile]:
        files = []
        for path in params_file_paths(self._arguments):
            try:
                files.append(read_params_file(path))
            except ConfigError:
                continue  # rcl read it at start-up; a file changed since is not this check's
        return files

    def _origins(self) -> dict[str, str]:
        """Parameter name -> where its override came from (a file's path, or the command line)."""
        origin = file_values(self._params_files(), self.get_fully_qualified_name())
        for name in command_line_parameters(self._arguments, self.get_name()):
            origin[name] = 'the command line'
        return origin

    def parameter_source_errors(self) -> list[str]:
        """What is wrong with where the parameters come from, ROS having let it pass silently.

        A ``--params-file`` none of whose sections applies to this node, and every override
        (file, ``-p``, constructor) that names no declared parameter.
        """
        errors = []
        wrong_file = sections_error(self._params_files(), self.get_fully_qualified_name())
        if wrong_file:
            errors.append(wrong_file)
        declared = self.list_parameters([], 0).names
        errors += unknown_parameters(declared, parameter_overrides(self), self._origins())
        return errors

    def parameter_summary(self) -> str:
        """Every parameter's value and where it came from: ``rate_hz=20.0 (default), ...``."""
        overrides = parameter_overrides(self)
        origin = self._origins()
        parts = []
        for name in self.list_parameters([], 0).names:
            if name in _QUIET_PARAMETERS:
                continue
            if name not in overrides:
                source = 'default'
            elif origin.get(name) == 'the command line':
                source = 'command line'
            elif name in origin:
                source = 'file'
            else:
                source = 'override'
            parts.append(f'{name}={_format_value(self.get_parameter(name).value)} ({source})')
        return ', '.join(parts)

    # ----- waiting for a lifecycle manager -----------------------------------------------------
    def _remind(self) -> None:
        """Warn, every REMINDER_PERIOD, while the node is not active: it does nothing yet."""
        if self._lifecycle_state == 'active':
            self._reminder.cancel()
            return
        now = time.monotonic()
        if now - self._reminded_at < REMINDER_PERIOD:
            return
        self._reminded_at = now
        self.get_logger().warning(self.waiting_message())

    def waiting_message(self) -> str:
        """What the node waits for while not active, and what to do about it."""
        if self._lifecycle_state == 'inactive':
            return (
                'inactive: configured, waiting for a lifecycle manager to activate me; not '
                'doing my work until then'
            )
        refused = ' (my last configure was refused: see the error above)' * bool(
            self._configure_refused
        )
        return (
            'unconfigured: waiting for a lifecycle manager to configure and activate me (or '
            f'start with -p autostart:=true); publishing nothing until then{refused}'
        )

    @staticmethod
    def make_executor() -> Executor:
        """The executor the node's process spins.

        Single-threaded: rclpy 7.1's MultiThreadedExecutor can re-submit queued tasks and spin
        without waiting (ros2/rclpy#1452, fixed after 7.1.6), which measured here as 20 Hz
        timers firing up to 0.6 s late. Work that blocks runs on threads of its own instead.
        """
        return SingleThreadedExecutor()

    def fail(self, error: BaseException) -> None:
        """Record an error raised on a thread of the node's own; :func:`run` re-raises it."""
        self.get_logger().fatal(f'{error!r}; exiting')
        self._failure = error

    def raise_failure(self) -> None:
        """Re-raise, on the caller's thread, an error that :meth:`fail` recorded."""
        if self._failure is not None:
            raise self._failure

    def before_exit(self) -> None:
        """Last words before the process exits (the context is still valid)."""

    @property
    def autostart(self) -> bool:
        """Whether the node should configure and activate itself after start-up.

        Anything but ``false`` counts: ``autostart:=yes`` (a string) then fails to configure,
        saying why, instead of leaving the node waiting in silence.
        """
        return self.get_parameter('autostart').value is not False


def run(node_type: Callable[[], SupervisorNode[Any]], args: Sequence[str] | None = None) -> int:
    """Run one node in its own process until SIGINT/SIGTERM; return the process exit status.

    The process handles the signals itself rather than letting rclpy shut the context down at
    once: the node gets :meth:`SupervisorNode.before_exit` while it can still publish (the
    safety gate sends a last zero), then everything is torn down in order. The same happens
    when a callback, or a thread of the node's own (:meth:`SupervisorNode.fail`), raises; the
    error then ends the process with a traceback and a non-zero status.
    """
    argv = list(args) if args is not None else sys.argv
    try:
        rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    except RuntimeError as error:  # rclpy's RCLError: a parameter file rcl cannot parse, ...
        print(f'{Path(argv[0]).name if argv else "node"}: cannot start: {error}', file=sys.stderr)
        return 1
    remember_arguments(get_default_context(), argv)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    node = None
    executor = None
    try:
        node = node_type()
        executor = node.make_executor()
        executor.add_node(node)
        if node.autostart and not _autostart(node):
            return 1
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
            node.raise_failure()
    except ExternalShutdownException:
        pass
    finally:
        if node is not None and rclpy.ok():
            node.before_exit()  # also after an error: the gate's last zero
        if executor is not None:
            executor.shutdown()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _autostart(node: SupervisorNode[Any]) -> bool:
    for transition, name in (
        (node.trigger_configure, 'configure'),
        (node.trigger_activate, 'activate'),
    ):
        if transition() != TransitionCallbackReturn.SUCCESS:
            node.get_logger().fatal(f'autostart: {name} failed; exiting')
            return False
    return True


def _format_value(value: Any) -> str:
    """A parameter value as a YAML file writes it: true, 0.5, 'auto', [0.0, 1.0] (or unset)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return 'unset'
    if isinstance(value, (int, float)):
        return str(value)
    return '[' + ', '.join(_format_value(item) for item in value) + ']'
