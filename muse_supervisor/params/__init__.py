"""Node parameters declared once, as frozen dataclasses whose fields carry their descriptors.

``spec`` is ROS-free (the core and tests use it); ``ros`` declares the same fields on an rclpy node
with descriptors (description, range, read-only) and validates run-time changes.
"""

from muse_supervisor.params.spec import ConfigError, ParamInfo, from_mapping, param, param_infos

__all__ = ['ConfigError', 'ParamInfo', 'from_mapping', 'param', 'param_infos']
