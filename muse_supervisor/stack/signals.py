"""One way for the command-line tools to stop on a signal: SIGINT, SIGTERM and SIGHUP alike.

SIGHUP arrives when the terminal or SSH session closes; treating it as Ctrl-C means a closed
terminal stops what it started instead of leaving it running. rclpy's own handlers are not
installed: they would shut the ROS context down under the tool before it has stopped cleanly.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopRequest:
    """Becomes true when one of :data:`STOP_SIGNALS` arrives (after :meth:`install`)."""

    def __init__(self) -> None:
        self.requested = False

    def __bool__(self) -> bool:
        return self.requested

    def _set(self, signum: int, frame: object) -> None:
        self.requested = True

    def install(self) -> StopRequest:
        """Handle the stop signals from now on; returns ``self``."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._set)
        return self


def init_ros() -> StopRequest:
    """Initialise rclpy without its signal handlers, and handle the stop signals ourselves."""
    import rclpy
    from rclpy.signals import SignalHandlerOptions

    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    return StopRequest().install()
