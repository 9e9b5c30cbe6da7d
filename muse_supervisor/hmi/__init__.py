"""The operator HMI's ROS-free core.

Accounts and sessions, the audit trail, the fleet's view, operator actions and the web server;
``nodes/hmi_bridge_node.py`` wires it to ROS.
"""
