"""Shared test set-up: isolated ROS traffic and per-test rclpy contexts."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Keep this run's ROS traffic and logs to itself: a domain of its own (unless the caller chose
# one, as .ci/run does), discovery on this host only, logs under a temporary folder.
os.environ.setdefault('ROS_DOMAIN_ID', str(1 + os.getpid() % 100))
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_LOG_DIR', tempfile.mkdtemp(prefix='muse-test-roslog-'))
# Installed executables and config are found through the ament prefix: this environment's.
os.environ.setdefault('AMENT_PREFIX_PATH', sys.prefix)


@pytest.fixture
def ros_context() -> Iterator[object]:
    """An initialised rclpy context of this test's own, shut down afterwards."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.try_shutdown(context=context)
