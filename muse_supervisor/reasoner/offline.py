"""The reasoner without a ROS graph: what ``muse-supervisor propose`` and ``eval`` run.

A scenario file (one moment of one robot, ``perception/scenario.py``) goes through the perception
core and analyzers the perception node runs, the reasoner the reasoner node runs and the world
model the plan simulator node runs, all configured from the same files (the installed
``share/muse_supervisor/config``, or ``--config-dir``). Perception time and reasoning time are
reported apart: on the robot perception runs continuously, before the incident reaches the
reasoner, so the reasoning deadline does not include it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from muse_supervisor.domain import IncidentKind
from muse_supervisor.domain.evidence import Observation
from muse_supervisor.domain.incidents import IncidentSnapshot, IncidentState
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.vocabulary import SAFETY_PRIORITY, Severity
from muse_supervisor.perception.context import ContextBundle
from muse_supervisor.perception.core import PerceptionCore
from muse_supervisor.perception.rules import load_rules
from muse_supervisor.perception.scenario import T0, Scenario, load_scenario, perceive
from muse_supervisor.perception.vision import default_analyzers
from muse_supervisor.perception.vision.analyzer import Analyzer
from muse_supervisor.perception.vision.frames import Frame
from muse_supervisor.reasoner.core import Proposal, Reasoner, ReasonerSettings
from muse_supervisor.reasoner.embeddings import TextEmbedder
from muse_supervisor.reasoner.facts import RobotState
from muse_supervisor.reasoner.language import load_glossary
from muse_supervisor.reasoner.maintenance import open_maintenance_log
from muse_supervisor.reasoner.simulation import PoolSimulator
from muse_supervisor.reasoner.sops import load_library
from muse_supervisor.safety.config import gate_config_from_file
from muse_supervisor.sim.world import load_world

ROBOT_ID = 'robot_1'


@dataclass(frozen=True)
class OfflineResult:
    """One scenario's proposal, with what perception made of it and how long each part took."""

    scenario: Scenario
    proposal: Proposal
    perception_kind: IncidentKind
    perception_ms: float

    def to_dict(self) -> dict[str, Any]:
        """The ``propose --json`` document."""
        return {
            'scenario': self.scenario.name,
            **self.proposal.to_dict(),
            'perception': {
                'kind': self.perception_kind.name.lower(),
                'latency_ms': round(self.perception_ms, 1),
            },
        }


class _Remembered:
    """An analyzer whose results are remembered per image.

    A scenario shows each image many times (the moment is held), and OCR costs up to a second
    an image.
    """

    def __init__(self, analyzer: Analyzer) -> None:
        self._analyzer = analyzer
        self._seen: dict[str, list[Observation]] = {}

    @property
    def name(self) -> str:
        """The wrapped analyzer's name."""
        return self._analyzer.name

    @property
    def default_rate_hz(self) -> float:
        """The wrapped analyzer's default rate."""
        return self._analyzer.default_rate_hz

    def analyze(self, frame: Frame) -> list[Observation]:
        key = hashlib.sha1(frame.pixels.tobytes()).hexdigest()
        if key not in self._seen:
            self._seen[key] = self._analyzer.analyze(frame)
        return [replace(o, stamp=frame.stamp, topic=frame.topic) for o in self._seen[key]]


class OfflineStack:
    """Perception, reasoner and simulator configured from one config folder."""

    def __init__(
        self,
        config_dir: Path,
        backend: str = 'sop',
        settings: ReasonerSettings | None = None,
        simulate: bool = True,
        workers: int = 0,
    ) -> None:
        if backend != 'sop':
            raise ValueError(f'backend {backend!r} is not available offline yet; expected sop')
        self.config_dir = config_dir
        self.rules = load_rules([config_dir / 'perception_rules.yaml'])
        gate = gate_config_from_file(str(config_dir / 'safety_gate.yaml'), '/safety_gate')
        world_file = config_dir / 'maps' / 'warehouse_world.yaml'
        world = load_world(world_file)
        self.embedder = TextEmbedder()
        self.simulator = PoolSimulator(world_file, gate, workers=workers) if simulate else None
        self.analyzers = [_Remembered(a) for a in default_analyzers()]
        self.maintenance = open_maintenance_log('', config_dir / 'maintenance' / 'history.csv')
        self.reasoner = Reasoner(
            load_library(config_dir / 'sops'),
            self.embedder.embed,
            load_glossary(config_dir / 'sops' / 'glossary.yaml'),
            gate,
            world,
            simulator=self.simulator,
            maintenance=self.maintenance,
            inspector=_Inspector(self.analyzers),
            settings=settings,
        )

    def warm_up(self) -> None:
        """Load the embedding model, index the SOPs and start the simulator's workers."""
        self.reasoner.load()
        if self.simulator is not None:
            self.simulator.warm_up()

    def propose(self, path: Path, mode: str = 'instant') -> OfflineResult:
        """Perceive the scenario, then reason about its governing incident."""
        scenario = load_scenario(path)
        start = time.perf_counter()
        core = PerceptionCore(self.rules, ROBOT_ID)
        incidents, contexts = perceive(scenario, core, self.analyzers)
        frames = _frames(scenario)
        perception_ms = 1e3 * (time.perf_counter() - start)
        if incidents:
            governing = min(incidents, key=lambda i: SAFETY_PRIORITY.index(i.kind))
            bundle = contexts[governing.id]
            perceived = governing.kind
        else:
            bundle = _quiet_bundle(core, scenario)
            perceived = IncidentKind.UNKNOWN
        pose = scenario.pose
        robot = RobotState(
            pose=Pose2D(*pose) if pose is not None else None,
            speed=scenario.speed,
            battery=scenario.battery,
            estop=scenario.estop,
            person=scenario.person_in_zone,
        )
        proposal = self.reasoner.propose(bundle, robot, mode, frames)
        return OfflineResult(scenario, proposal, perceived, perception_ms)

    def close(self) -> None:
        """Stop the simulator's workers and close the maintenance log."""
        if self.simulator is not None:
            self.simulator.close()
        self.maintenance.close()


class _Inspector:
    """``inspect_image`` offline: the perception analyzers on one image (or a region of it)."""

    def __init__(self, analyzers: Sequence[Analyzer]) -> None:
        self._analyzers = analyzers

    def __call__(self, pixels: np.ndarray, region: Sequence[int] | None) -> list[dict[str, Any]]:
        if region:
            x, y, width, height = [*region, 0, 0, 0, 0][:4]
            if width > 0 and height > 0:
                pixels = pixels[y : y + height, x : x + width]
        frame = Frame(np.ascontiguousarray(pixels), T0, frame_id='camera', topic='inspect')
        found = []
        for analyzer in self._analyzers:
            for observation in analyzer.analyze(frame):
                text = next((v for k, v in observation.attributes
                             if k in ('text', 'payload', 'id')), '')  # fmt: skip
                found.append({'signal': observation.signal, 'summary': observation.summary,
                              'text': text, 'confidence': observation.confidence})  # fmt: skip
        return found


def _frames(scenario: Scenario) -> list[tuple[str, np.ndarray]]:
    import cv2

    frames = []
    for path in scenario.images:
        pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if pixels is not None:
            frames.append((path.name, np.asarray(pixels)))
    return frames


def _quiet_bundle(core: PerceptionCore, scenario: Scenario) -> ContextBundle:
    """Perception opened nothing: the reasoner still gets the moment, as an unknown incident."""
    end = T0 + 10.0
    incident = IncidentSnapshot(
        id=f'{ROBOT_ID}/scenario/{scenario.name}', robot_id=ROBOT_ID,
        dedup_key=f'scenario:{scenario.name}', kind=IncidentKind.UNKNOWN, other_kinds=(),
        severity=Severity.INFO, state=IncidentState.OPEN, opened=T0, updated=end,
        confidence=0.0, summary='perception opened no incident',
    )  # fmt: skip
    return core.context_builder.build(incident, end)
