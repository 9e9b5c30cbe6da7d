"""``safety_gate_node`` with one injected fault: its heartbeat handling raises on a marked stamp.

    faulty_gate.py STAMP_SEC --ros-args ...      (then the gate's own arguments)

A heartbeat stamped exactly ``STAMP_SEC`` seconds makes the core's heartbeat input raise
``RuntimeError`` inside a stop-path callback, so a test can watch what the gate process does
when its own code fails: latch a stop, publish zero, and exit with an error.
"""

from __future__ import annotations

import sys

from muse_supervisor.nodes import safety_gate_node
from muse_supervisor.safety.gate import GateCore

_heartbeat = GateCore.heartbeat


def main(argv: list[str]) -> int:
    fault_stamp = float(argv[1])

    def faulty_heartbeat(core: GateCore, stamp: float | None, now: float) -> str:
        if stamp == fault_stamp:
            raise RuntimeError('injected fault in the heartbeat input')
        return _heartbeat(core, stamp, now)

    GateCore.heartbeat = faulty_heartbeat  # type: ignore[method-assign]
    return safety_gate_node.main([argv[0], *argv[2:]])


if __name__ == '__main__':
    sys.exit(main(sys.argv))
