"""A separate ROS process that publishes one kind of message at a fixed rate until killed.

    publisher.py twist TOPIC LINEAR RATE_HZ      geometry_msgs/Twist (linear.x = LINEAR)
    publisher.py heartbeat TOPIC RATE_HZ         std_msgs/Header stamped with the current time
    publisher.py odom TOPIC RATE_HZ              nav_msgs/Odometry at rest at the origin (a flood)

Used by the safety gate tests as a command source, heartbeat or rogue publisher that a test kills
(SIGKILL, as a crash would) and watches the gate react, or as a flood on another input. Prints
READY once publishing.
"""

from __future__ import annotations

import sys

import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from peer_process import spin_until_stopped
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Header


def main(argv: list[str]) -> None:
    kind, topic = argv[0], argv[1]
    rclpy.init()
    node = rclpy.create_node('test_publisher')
    if kind == 'twist':
        publisher = node.create_publisher(Twist, topic, 10)
        message = Twist()
        message.linear.x = float(argv[2])
        rate = float(argv[3])

        def publish() -> None:
            publisher.publish(message)
    elif kind == 'odom':
        publisher = node.create_publisher(Odometry, topic, 10)
        rate = float(argv[2])

        def publish() -> None:
            odom = Odometry()
            odom.header.stamp = node.get_clock().now().to_msg()
            publisher.publish(odom)
    else:
        publisher = node.create_publisher(Header, topic, 10)
        rate = float(argv[2])

        def publish() -> None:
            publisher.publish(Header(stamp=node.get_clock().now().to_msg()))

    node.create_timer(1.0 / rate, publish)
    publish()
    print('READY', flush=True)
    spin_until_stopped(node, SingleThreadedExecutor())


if __name__ == '__main__':
    main(sys.argv[1:])
