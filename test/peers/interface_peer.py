"""A separate ROS process that speaks the package's interfaces, for cross-process tests.

It echoes incidents, echoes plan decisions (``approve_plan``: every request field comes back in
the message, so a test sees the service carry them; the gate's own rules on decisions are tested
against the gate) and executes plans
(``execute_plan``) by waiting out each ``wait`` step, with feedback per step and cancel. Prints
``READY`` once everything is advertised.
"""

from __future__ import annotations

import sys
import threading
import time

import rclpy
from peer_process import spin_until_stopped
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from muse_supervisor.action import ExecutePlan
from muse_supervisor.msg import Incident, PlanStep
from muse_supervisor.srv import ApprovePlan


class InterfacePeer(Node):
    def __init__(self) -> None:
        super().__init__('interface_peer')
        group = ReentrantCallbackGroup()
        self.echo = self.create_publisher(Incident, 'incident_echo', 10)
        self.create_subscription(Incident, 'incident', self.echo.publish, 10)
        self.create_service(ApprovePlan, 'approve_plan', self.on_approve)
        self.server = ActionServer(
            self,
            ExecutePlan,
            'execute_plan',
            execute_callback=self.execute,
            goal_callback=lambda goal: GoalResponse.ACCEPT,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
            callback_group=group,
            result_timeout=60,
        )

    def on_approve(
        self, request: ApprovePlan.Request, response: ApprovePlan.Response
    ) -> ApprovePlan.Response:
        response.accepted = True
        response.message = ' '.join(
            str(value)
            for value in (
                request.operator_id, request.plan_id, request.plan_digest, request.decision,
                request.reason,
            )
        )  # fmt: skip
        response.recorded_at = self.get_clock().now().to_msg()
        return response

    def execute(self, goal_handle):  # type: ignore[no-untyped-def]
        steps = goal_handle.request.plan.steps
        result = ExecutePlan.Result()
        for index, step in enumerate(steps):
            self.feedback(goal_handle, index, len(steps), step, ExecutePlan.Feedback.STEP_STARTED)
            seconds = next((a.number for a in step.arguments if a.name == 'seconds'), 0.0)
            end = time.monotonic() + (seconds if step.skill == PlanStep.SKILL_WAIT else 0.0)
            while time.monotonic() < end:
                if goal_handle.is_cancel_requested:
                    goal_handle.canceled()
                    result.error_code = ExecutePlan.Result.CANCELED
                    result.error_msg = f'canceled during step {index}'
                    result.steps_completed = index
                    return result
                time.sleep(0.02)
            self.feedback(
                goal_handle, index, len(steps), step, ExecutePlan.Feedback.STEP_SUCCEEDED
            )
        goal_handle.succeed()
        result.error_code = ExecutePlan.Result.NONE
        result.steps_completed = len(steps)
        return result

    def feedback(self, goal_handle, index, count, step, state):  # type: ignore[no-untyped-def]
        goal_handle.publish_feedback(
            ExecutePlan.Feedback(step_index=index, step_count=count, step=step, step_state=state)
        )


def main() -> None:
    rclpy.init(args=sys.argv)
    node = InterfacePeer()
    threading.Timer(0.1, lambda: print('READY', flush=True)).start()
    spin_until_stopped(node, MultiThreadedExecutor())


if __name__ == '__main__':
    sys.exit(main())
