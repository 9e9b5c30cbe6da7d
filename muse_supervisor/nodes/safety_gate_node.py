"""``safety_gate_node``: the only component that may command actuators; fails closed.

Skeleton of the foundation issue: it declares its parameters with descriptors, validates them on
configure and follows the lifecycle. The gate rules and plan execution fill it in later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from muse_supervisor.nodes.lifecycle import SupervisorNode, run
from muse_supervisor.params import param


@dataclass(frozen=True)
class SafetyGateConfig:
    """Parameters of ``safety_gate`` (see ``config/safety_gate.yaml``)."""

    rate_hz: float = param(
        20.0,
        'Rate at which cmd_vel is published, zero when nothing valid commands motion (Hz).',
        minimum=1.0,
        maximum=200.0,
        read_only=True,
    )
    require_heartbeat: bool = param(
        True, 'Stop when the supervisor heartbeat lapses.', read_only=True
    )
    heartbeat_timeout: float = param(
        0.5,
        'Seconds without a supervisor heartbeat after which the gate stops.',
        minimum=0.01,
        maximum=10.0,
        read_only=True,
    )


class SafetyGateNode(SupervisorNode[SafetyGateConfig]):
    """The only component that may command actuators; fails closed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('safety_gate', SafetyGateConfig, **kwargs)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Start work (skeleton; still to come: the gate rules and plan execution)."""
        self.get_logger().info(
            'active (skeleton; still to come: the gate rules and plan execution)'
        )
        return super().on_activate(state)


def main(args: list[str] | None = None) -> int:
    """Entry point of the ``safety_gate_node`` executable."""
    return run(SafetyGateNode, args)
