"""Thin rclpy nodes: each converts messages, calls its ROS-free core, and publishes."""
