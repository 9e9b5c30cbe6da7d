"""``navigate_to`` through Nav2: a ``NavigateToPose`` client that the gate's plan worker polls.

Nav2 plans and drives; the gate stays the only publisher of ``cmd_vel``. Nav2's controller
publishes on a command source of the gate (``nav2_source``, by default ``cmd_vel_nav``, the usual
twist_mux input), and once Nav2 has accepted the goal the gate forwards that source as the plan's
motion, through every rule. Cancelling the step cancels the goal and stops at once.

Threading: the plan worker polls from a thread of its own, but every action-client call (send
goal, get result, cancel) is made on the gate node's executor thread through ``call_soon``:
rclpy 7's ``ActionClient.send_goal_async`` registers its future only after the request has gone
out, so a response handled meanwhile on the executor thread would be dropped. The callbacks only
record what happened, under a lock; ``poll`` reads it.

``nav2_msgs`` is imported only when this is used: a robot without Nav2 runs the built-in
controller (``navigation_backend: auto``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from action_msgs.msg import GoalStatus
from rclpy.action.client import ActionClient

from muse_supervisor.safety.config import GateLimits
from muse_supervisor.safety.skills import NavigationStatus, StepState, nav2_not_answering

CallSoon = Callable[[Callable[[], None]], None]


def navigate_to_pose_type() -> Any | None:
    """``nav2_msgs.action.NavigateToPose`` if ``nav2_msgs`` is installed, else ``None``."""
    try:
        from nav2_msgs.action import NavigateToPose
    except ImportError:
        return None
    return NavigateToPose


class Nav2Navigator:
    """The gate's ``NavigateToPose`` client; makes one :class:`Nav2Goal` per step."""

    def __init__(self, node: Any, action_type: Any, limits: GateLimits, call_soon: CallSoon):
        self._node = node
        self._action_type = action_type
        self.limits = limits
        self.call_soon = call_soon
        self.client: Any = ActionClient(node, action_type, limits.nav2_action)

    def start(
        self,
        x: float,
        y: float,
        yaw: float,
        frame: str,
        now: float,
        on_accepted: Callable[[], None],
    ) -> Nav2Goal:
        """A goal toward (x, y, yaw) in ``frame``, sent once the server answers.

        ``on_accepted`` runs (on the executor thread) when Nav2 accepts the goal, unless the
        step has been canceled by then: it hands the plan's motion to Nav2's controller.
        """
        goal = self._action_type.Goal()
        goal.pose.header.frame_id = frame
        goal.pose.header.stamp = self._node.get_clock().now().to_msg()
        goal.pose.pose.position.x, goal.pose.pose.position.y = float(x), float(y)
        goal.pose.pose.orientation.z = math.sin(yaw / 2.0)
        goal.pose.pose.orientation.w = math.cos(yaw / 2.0)
        return Nav2Goal(self, goal, now, on_accepted)

    def destroy(self) -> None:
        """Destroy the action client."""
        self.client.destroy()


class Nav2Goal:
    """One ``NavigateToPose`` goal (a :class:`~muse_supervisor.safety.skills.Navigation`)."""

    def __init__(
        self, navigator: Nav2Navigator, goal: Any, now: float, on_accepted: Callable[[], None]
    ) -> None:
        self._navigator = navigator
        self._goal = goal
        self._started = now
        self._on_accepted = on_accepted
        self._lock = threading.Lock()
        self._sent = False
        self._handle: Any = None
        self._outcome: NavigationStatus | None = None
        self._first_distance: float | None = None
        self._distance: float | None = None
        self._cancel_requested = False

    @property
    def _action(self) -> str:
        return self._navigator.limits.nav2_action

    def poll(self, now: float) -> NavigationStatus:
        """Send the goal once the server is up, then report Nav2's feedback and result."""
        with self._lock:
            if self._outcome is not None:
                return self._outcome
            sent, handle, distance, first = (
                self._sent, self._handle, self._distance, self._first_distance
            )  # fmt: skip
        if not sent:
            if self._navigator.client.server_is_ready():
                with self._lock:
                    self._sent = True
                self._navigator.call_soon(self._send)
                return NavigationStatus(StepState.RUNNING, 0.0, f'goal sent to {self._action}')
            waited = now - self._started
            if waited > self._navigator.limits.nav2_server_timeout:
                return nav2_not_answering(self._action, waited)
            return NavigationStatus(StepState.RUNNING, 0.0, f'waiting for {self._action}')
        if handle is None:
            return NavigationStatus(StepState.RUNNING, 0.0, f'goal sent to {self._action}')
        if distance is None or first is None:
            return NavigationStatus(StepState.RUNNING, 0.0, 'navigating')
        progress = max(0.0, min(1.0, 1.0 - distance / first)) if first > 0 else 0.0
        return NavigationStatus(StepState.RUNNING, progress, f'{distance:.2f} m to go')

    def cancel(self) -> None:
        """Cancel the goal if Nav2 still has it (also when its acceptance is still on the way)."""
        with self._lock:
            if self._cancel_requested or self._outcome is not None:
                return
            self._cancel_requested = True
            handle = self._handle
        if handle is not None:
            self._navigator.call_soon(handle.cancel_goal_async)

    # ----- on the executor thread ------------------------------------------------------------
    def _send(self) -> None:
        future = self._navigator.client.send_goal_async(
            self._goal, feedback_callback=self._on_feedback
        )
        future.add_done_callback(self._on_goal_response)

    def _on_goal_response(self, future: Any) -> None:
        handle = future.result()
        if handle is None or not handle.accepted:
            self._finish(StepState.FAILED, f'Nav2 refused the goal ({self._action})')
            return
        with self._lock:
            # Under the lock, so that a cancel (the step ending) cannot slip in between the
            # check and the hand-over: the step's end takes the source back after cancel().
            self._handle = handle
            cancel = self._cancel_requested
            if not cancel:
                self._on_accepted()
        if cancel:
            handle.cancel_goal_async()
            return
        handle.get_result_async().add_done_callback(self._on_result)

    def _on_feedback(self, message: Any) -> None:
        distance = float(message.feedback.distance_remaining)
        if not math.isfinite(distance):
            return
        with self._lock:
            self._distance = distance
            if self._first_distance is None or distance > self._first_distance:
                self._first_distance = distance

    def _on_result(self, future: Any) -> None:
        response = future.result()
        result = getattr(response, 'result', None)
        code = int(getattr(result, 'error_code', 0))
        detail = str(getattr(result, 'error_msg', ''))
        status = getattr(response, 'status', GoalStatus.STATUS_UNKNOWN)
        if status == GoalStatus.STATUS_SUCCEEDED:
            self._finish(StepState.SUCCEEDED, 'arrived (Nav2)')
        elif status == GoalStatus.STATUS_CANCELED:
            self._finish(StepState.FAILED, 'Nav2 canceled the goal')
        else:
            words = f'Nav2 aborted the goal (error_code {code}{": " + detail if detail else ""})'
            self._finish(StepState.FAILED, words)

    def _finish(self, state: StepState, text: str) -> None:
        with self._lock:
            progress = 1.0 if state is StepState.SUCCEEDED else 0.0
            self._outcome = NavigationStatus(state, progress, text)
