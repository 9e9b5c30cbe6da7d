"""QoS profiles the nodes share, so that publishers and subscribers of one topic always match."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# State published on change: a late subscriber gets the latest at once (transient local).
LATCHED = QoSProfile(
    depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
# Recovery proposals: the last few stay available to late subscribers (the gate learns the plans
# it may be asked to approve from them, the HMI shows them).
PROPOSALS = QoSProfile(
    depth=10, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
)
