"""The lifecycle base every node of the stack shares, and the process entry point that runs it.

Every node is a managed (lifecycle) node: parameters are declared at construction, read and
validated in ``on_configure`` (an invalid configuration refuses to configure, with the reason in
the log), and work starts only in ``on_activate``. With ``autostart:=true`` a node configures and
activates itself, for stacks started without a lifecycle manager.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

import rclpy
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn
from rclpy.lifecycle import Node as LifecycleNode
from rclpy.signals import SignalHandlerOptions

from muse_supervisor.params import ConfigError
from muse_supervisor.params.ros import declare_config

ConfigT = TypeVar('ConfigT')


class SupervisorNode(LifecycleNode, Generic[ConfigT]):
    """A lifecycle node whose parameters are the fields of a frozen configuration dataclass.

    ``parameters`` is the dataclass declared as ROS parameters; :meth:`load_config` turns the
    values into the node's configuration (by default, that dataclass itself).
    """

    # For a skeleton node: what is still to be built, said once when it activates.
    still_to_come = ''

    def __init__(self, node_name: str, parameters: type[Any], **kwargs: Any) -> None:
        super().__init__(node_name, **kwargs)
        self.declare_parameter('autostart', False)
        self._read_parameters = declare_config(self, parameters)
        self.config: ConfigT | None = None
        self._failure: BaseException | None = None

    def load_config(self) -> ConfigT:
        """Read and validate the configuration; raise ConfigError when it is invalid."""
        return cast(ConfigT, self._read_parameters())

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Read and validate the parameters; refuse to configure when they are invalid."""
        try:
            self.config = self.load_config()
        except ConfigError as error:
            self.get_logger().error(f'invalid configuration, not configuring: {error}')
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start work; a skeleton says what it does not do yet."""
        if self.still_to_come:
            self.get_logger().info(f'active (skeleton; still to come: {self.still_to_come})')
        return super().on_activate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Forget the configuration so the next configure reads it afresh."""
        self.config = None
        return TransitionCallbackReturn.SUCCESS

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
        """Whether the node should configure and activate itself after start-up."""
        return bool(self.get_parameter('autostart').value)


def run(node_type: Callable[[], SupervisorNode[Any]], args: Sequence[str] | None = None) -> int:
    """Run one node in its own process until SIGINT/SIGTERM; return the process exit status.

    The process handles the signals itself rather than letting rclpy shut the context down at
    once: the node gets :meth:`SupervisorNode.before_exit` while it can still publish (the
    safety gate sends a last zero), then everything is torn down in order. The same happens
    when a callback, or a thread of the node's own (:meth:`SupervisorNode.fail`), raises; the
    error then ends the process with a traceback and a non-zero status.
    """
    rclpy.init(
        args=list(args) if args is not None else sys.argv,
        signal_handler_options=SignalHandlerOptions.NO,
    )
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
