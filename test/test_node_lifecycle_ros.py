"""The simulated robot and perception nodes through their whole lifecycle, in this process.

Configure, activate, deactivate, activate again, clean up and configure again: work starts on
activate and stops on deactivate, and what configure made is destroyed on cleanup, so a
reconfigured node never keeps a second publisher or timer beside the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rclpy.lifecycle import TransitionCallbackReturn

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]


def _counts(node: Any) -> tuple[int, int, int]:
    return len(list(node.publishers)), len(list(node.subscriptions)), len(list(node.timers))


@pytest.mark.parametrize('which', ['sim_world', 'perception'])
def test_every_transition_leaves_the_node_as_a_fresh_one_would(
    ros_context: Any, which: str
) -> None:
    from rclpy.parameter import Parameter

    from muse_supervisor.nodes.perception_node import PerceptionNode
    from muse_supervisor.nodes.sim_world_node import SimWorldNode

    overrides = {
        'sim_world': [Parameter('world', value=str(REPO / 'config/maps/warehouse_world.yaml'))],
        'perception': [Parameter('ocr_rate_hz', value=0.0)],
    }[which]
    node_type = SimWorldNode if which == 'sim_world' else PerceptionNode
    node = node_type(context=ros_context, parameter_overrides=overrides)
    try:
        before = _counts(node)
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        configured = _counts(node)
        assert configured[0] > before[0] and configured[1] > before[1]
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        active = _counts(node)
        assert active[2] > configured[2]  # the work timers run only while active
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert _counts(node) == configured
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert _counts(node) == active
        assert node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_cleanup() == TransitionCallbackReturn.SUCCESS
        assert _counts(node) == before
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert _counts(node) == configured
    finally:
        node.destroy_node()
