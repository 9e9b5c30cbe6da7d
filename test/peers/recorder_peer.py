"""A recorder process for the crash test: records incident transitions until it is killed.

Usage: recorder_peer.py FOLDER UPDATES

Each incident goes open -> acknowledged -> proposed -> approved -> executing -> resolved; before
every update the peer records key frames (not flushed on their own), then the incident update
(flushed). After each flush it prints ``flushed <incident id> <state> <transition count>``, so the
test knows what must survive a SIGKILL. After UPDATES updates, in the middle of an incident, it
records frames without end (the writer writes a chunk whenever one fills) and prints ``frames``
once a chunk of them must have been written, so the kill lands while it writes. It never stops
by itself.
"""

from __future__ import annotations

import os
import sys

from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image

from muse_supervisor.msg import Evidence, Incident, IncidentTransition
from muse_supervisor.recording import IncidentRecorder

STATES = (0, 1, 2, 3, 4, 5)  # Incident.STATE_OPEN ... STATE_RESOLVED


def frame(index: int) -> Image:
    """A 64 x 64 rgb8 frame of random bytes (incompressible, so chunks really are written)."""
    return Image(height=64, width=64, encoding='rgb8', step=64 * 3, data=os.urandom(64 * 64 * 3))


def main() -> None:
    recorder = IncidentRecorder(sys.argv[1], namespace='crash_robot', chunk_size=64 * 1024)
    updates = int(sys.argv[2])
    number = 0
    while updates:
        number += 1
        incident = Incident(id=f'crash/{number:04d}', robot_id='crash_robot', kind=5)
        previous = STATES[0]
        for step, state in enumerate(STATES):
            for index in range(3):
                ref = recorder.record_evidence_frame(frame(index), 'camera/image_raw')
            incident.evidence = [
                *incident.evidence,
                Evidence(signal='image.dark', summary=f'step {step}', data_ref=ref),
            ]
            if step:
                incident.transitions = [
                    *incident.transitions,
                    IncidentTransition(
                        from_state=previous,
                        to_state=state,
                        stamp=Time(sec=number, nanosec=step),
                        actor='crash_test',
                    ),
                ]
            incident.state = state
            previous = state
            recorder.record_incident(incident)
            print(f'flushed {incident.id} {state} {len(incident.transitions)}', flush=True)
            updates -= 1
            if not updates:
                break
    written = 0
    while True:
        recorder.record_evidence_frame(frame(0), 'camera/image_raw')
        written += 1
        if written == 10:  # 120 kB of frames: at least one 64 KiB chunk is in the file
            print('frames', flush=True)


if __name__ == '__main__':
    main()
