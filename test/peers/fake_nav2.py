"""A stand-in for Nav2 in a process of its own: a ``NavigateToPose`` server that drives.

    fake_nav2.py NAMESPACE drive|abort

``drive``: on a goal, publish velocity on ``cmd_vel_nav`` (as Nav2's controller does into a
twist_mux input) toward the goal, using ``odom``, with ``distance_remaining`` feedback, until
within 0.08 m: succeed. ``abort``: drive for 0.5 s, then abort with error code 104.
Prints ``GOAL x y yaw frame`` on each goal and ``CANCELED`` on a cancel. Needs the nav2_msgs
stand-in (test/nav2_msgs_stand_in) on the path. Prints READY once the server is up and ``ODOM``
on the first odometry (until then it has no pose to drive from), ``SUBSCRIBED`` once the gate
listens on ``cmd_vel_nav``.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any

import rclpy
from geometry_msgs.msg import Twist
from nav2_msgs.action import NavigateToPose
from nav_msgs.msg import Odometry
from peer_process import spin_until_stopped
from rclpy.action.server import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor


def main(argv: list[str]) -> None:
    namespace, mode = argv[0], argv[1]
    rclpy.init()
    node = rclpy.create_node('fake_nav2', namespace=namespace)
    lock = threading.Lock()
    pose = [math.nan, math.nan, 0.0]

    def on_odom(msg: Odometry) -> None:
        q = msg.pose.pose.orientation
        with lock:
            if math.isnan(pose[0]):
                print('ODOM', flush=True)
            pose[:] = [
                msg.pose.pose.position.x,
                msg.pose.pose.position.y,
                2.0 * math.atan2(q.z, q.w),
            ]

    group = ReentrantCallbackGroup()
    node.create_subscription(Odometry, 'odom', on_odom, 10, callback_group=group)
    cmd = node.create_publisher(Twist, 'cmd_vel_nav', 10)

    def execute(goal_handle: Any) -> Any:
        target = goal_handle.request.pose
        q = target.pose.orientation
        gx, gy = target.pose.position.x, target.pose.position.y
        yaw = 2.0 * math.atan2(q.z, q.w)
        print(f'GOAL {gx:.3f} {gy:.3f} {yaw:.3f} {target.header.frame_id}', flush=True)
        result = NavigateToPose.Result()
        started = time.monotonic()
        while True:
            if goal_handle.is_cancel_requested:
                cmd.publish(Twist())
                goal_handle.canceled()
                print('CANCELED', flush=True)
                return result
            with lock:
                x, y, heading = pose
            distance = math.hypot(gx - x, gy - y)
            if mode == 'abort' and time.monotonic() - started > 0.5:
                cmd.publish(Twist())
                result.error_code, result.error_msg = 104, 'no valid path'
                goal_handle.abort()
                return result
            if distance <= 0.08:
                cmd.publish(Twist())
                goal_handle.succeed()
                return result
            twist = Twist()
            if math.isfinite(distance):
                error = math.atan2(math.sin(math.atan2(gy - y, gx - x) - heading),
                                   math.cos(math.atan2(gy - y, gx - x) - heading))  # fmt: skip
                twist.angular.z = max(-0.8, min(0.8, 2.0 * error))
                twist.linear.x = 0.0 if abs(error) > 0.4 else min(0.3, distance)
                feedback = NavigateToPose.Feedback()
                feedback.distance_remaining = distance
                goal_handle.publish_feedback(feedback)
            cmd.publish(twist)
            time.sleep(0.05)

    ActionServer(
        node,
        NavigateToPose,
        'navigate_to_pose',
        execute_callback=execute,
        goal_callback=lambda goal: GoalResponse.ACCEPT,
        cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
        callback_group=group,
    )
    timers: list[Any] = []

    def report_subscribed() -> None:
        if cmd.get_subscription_count() > 0:
            print('SUBSCRIBED', flush=True)
            timers[0].cancel()

    timers.append(node.create_timer(0.05, report_subscribed))
    print('READY', flush=True)
    spin_until_stopped(node, MultiThreadedExecutor(num_threads=4))


if __name__ == '__main__':
    main(sys.argv[1:])
