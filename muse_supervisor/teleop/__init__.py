"""Drive the safety gate by hand: the supervisor heartbeat and key-driven velocity commands.

``core`` holds what does not need ROS (which key does what, how commands step and stay within
the limits, when a scripted drive ends); ``node`` publishes it.
"""
