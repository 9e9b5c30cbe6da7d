"""The plan simulator's world model and rollouts (ROS-free).

``world``: the occupancy map (Nav2 ``map_server`` format) and the named places and zones on it;
``planner``: paths on the inflated grid; ``rollout``: a plan executed by the safety gate's own
core and skill executors against a simulated base in that world.
"""
