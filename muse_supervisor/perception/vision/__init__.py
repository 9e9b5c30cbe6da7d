"""The pluggable visual analyzers: camera frames in, :class:`Observation` s out (ROS-free)."""
