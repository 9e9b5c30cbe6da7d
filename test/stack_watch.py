"""Helpers for tests that run several nodes of the stack as processes, over real DDS.

``Watcher`` listens to what the stack says in one namespace; ``write_timeline`` writes a scenario
timeline for the simulated robot; ``start_perception`` starts the perception node as these tests
want it (no OCR or person detector, its recordings in the test's folder).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from gate_harness import start_node, stop_process

from muse_supervisor.msg import Incident, RecoveryProposal


class Watcher:
    """Collects ``incidents``, ``recovery_proposals`` and ``heartbeat`` in one namespace."""

    def __init__(self, context: Any, namespace: str) -> None:
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
        from std_msgs.msg import Header

        self.node = Node('reasoner_watcher', namespace=namespace, context=context)
        self.lock = threading.Lock()
        self.incidents: list[Incident] = []
        self.proposals: list[RecoveryProposal] = []
        self.beats: list[Header] = []
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)  # fmt: skip
        best_effort = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(Incident, 'incidents', self._keep(self.incidents), reliable)
        self.node.create_subscription(
            RecoveryProposal, 'recovery_proposals', self._keep(self.proposals), latched
        )
        self.node.create_subscription(Header, 'heartbeat', self._keep(self.beats), best_effort)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _keep(self, into: list[Any]) -> Any:
        def keep(msg: Any) -> None:
            with self.lock:
                into.append(msg)

        return keep

    def latest(self, incident_id: str) -> Incident | None:
        with self.lock:
            return next((i for i in reversed(self.incidents) if i.id == incident_id), None)

    def story(self, output: str) -> str:
        """What the stack did, for a failure message: proposals, the latest incident's
        evidence, and the nodes' proposal and warning lines from ``output``."""
        with self.lock:
            proposals = [(p.incident_id, p.kind, round(p.confidence, 2), p.plans[0].steps[0].skill)
                         for p in self.proposals if p.plans]  # fmt: skip
            latest = self.incidents[-1] if self.incidents else None
        evidence = [] if latest is None else [
            (e.signal, 'cleared' if e.cleared else 'active', e.summary) for e in latest.evidence
        ]  # fmt: skip
        lines = [line for line in output.splitlines() if 'proposal for' in line or 'WARN' in line]
        return '\n'.join([f'proposals (incident, kind, confidence, first skill): {proposals}',
                          f'latest incident evidence: {evidence}', *lines[-40:]])  # fmt: skip

    def close(self) -> None:
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()


def write_timeline(tmp_path: Path, events: list[dict[str, Any]]) -> Path:
    path = tmp_path / 'timeline.yaml'
    path.write_text(yaml.safe_dump({'events': events}))
    return path


def start_perception(namespace: str, tmp_path: Path, *args: str) -> Any:
    return start_node(
        'perception_node', namespace, 'perception.yaml', '-p', 'ocr_rate_hz:=0.0',
        '-p', 'person_rate_hz:=0.0', '-r', 'image:=camera/image_raw',
        '-p', f'recording_folder:={tmp_path / "recordings"}', *args,
    )  # fmt: skip


def stop_all(*processes: Any) -> str:
    return '\n'.join(stop_process(p) for p in processes)
