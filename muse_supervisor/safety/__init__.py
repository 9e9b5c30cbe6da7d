"""The safety gate's rules, plan validation and skill executors, free of ROS.

The gate is the only component that may command actuators. Everything here takes ``now`` as an
argument (seconds, from whichever clock the node uses, sim time included) and returns plain
values; ``muse_supervisor.nodes.safety_gate_node`` only converts messages and publishes.
"""
