"""What every peer process does last: spin its node until SIGINT/SIGTERM, then tear down."""

from __future__ import annotations

from typing import Any

import rclpy
from rclpy.executors import Executor, ExternalShutdownException


def spin_until_stopped(node: Any, executor: Executor) -> None:
    """Spin ``node`` on ``executor`` until interrupted, then destroy it and shut rclpy down."""
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
