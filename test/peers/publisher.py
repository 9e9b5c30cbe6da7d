"""A separate ROS process that publishes one kind of message at a fixed rate until killed.

    publisher.py twist TOPIC LINEAR RATE_HZ      geometry_msgs/Twist (linear.x = LINEAR)
    publisher.py heartbeat TOPIC RATE_HZ         std_msgs/Header stamped with the current time
    publisher.py odom TOPIC RATE_HZ              nav_msgs/Odometry at rest at the origin (a flood)
    publisher.py bool TOPIC true|false RATE_HZ   std_msgs/Bool, reliable; RATE_HZ 0: once, latched
    publisher.py clock TOPIC RATE_HZ             rosgraph_msgs/Clock counting from 1000 s at 1x

``--node-name [NAMESPACE/]NAME`` first names the node (default ``test_publisher``), e.g. an
impostor of the gate in the gate's own namespace.

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
    name = 'test_publisher'
    if argv[0] == '--node-name':
        name, argv = argv[1], argv[2:]
    kind, topic = argv[0], argv[1]
    rclpy.init()
    namespace, _, name = name.rpartition('/')
    node = rclpy.create_node(name, namespace=namespace or '/')
    if kind == 'bool':
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Bool

        rate = float(argv[3])
        durability = DurabilityPolicy.TRANSIENT_LOCAL if rate == 0 else DurabilityPolicy.VOLATILE
        qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=durability)
        publisher = node.create_publisher(Bool, topic, qos)
        value = Bool(data=argv[2] == 'true')
        publisher.publish(value)
        if rate > 0:
            node.create_timer(1.0 / rate, lambda: publisher.publish(value))
        print('READY', flush=True)
        spin_until_stopped(node, SingleThreadedExecutor())
        return
    if kind == 'clock':
        import time

        from rosgraph_msgs.msg import Clock

        publisher = node.create_publisher(Clock, topic, 10)
        rate = float(argv[2])
        origin = time.monotonic()

        def publish() -> None:
            elapsed = 1000.0 + time.monotonic() - origin
            msg = Clock()
            msg.clock.sec, msg.clock.nanosec = int(elapsed), int((elapsed % 1.0) * 1e9)
            publisher.publish(msg)
    elif kind == 'twist':
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
