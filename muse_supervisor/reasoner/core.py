"""The reasoner: one incident's context in, a ranked proposal of validated recovery plans out.

One pass (:meth:`Reasoner.propose`):

1. read the evidence: every text (alarms, logs, camera reads, translated where needed) matched
   against the SOP library with real text embeddings, together with the robot's safety inputs
   and perception's rule matches, gives the :class:`~muse_supervisor.reasoner.belief.KindBelief`;
2. a backend proposes candidates (the ``sop`` backend: the procedures for the governing kind,
   and in Thinking mode their variants and the procedures of a competing hypothesis);
3. every candidate passes one validator, the gate's own (:func:`validate_candidate`); an invalid
   one is dropped and counted. Below the operator threshold, or for an unknown kind, the only
   plan is to ask a person (DOMAIN.md invariant 6);
4. the candidates are simulated (Thinking: all of them, in parallel; Instant: the best one, if
   the deadline leaves time), ranked, and summarised for the operator.

Every tool call (``sop``, ``mission_state``, ``maintenance_log``, ``inspect_image``,
``simulate``, ``summarise``) is in the proposal's trace. The deadline holds: Thinking returns
what it has when time is up, and the Instant answer when it has nothing better.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol

import numpy as np

from muse_supervisor.domain import SKILLS, IncidentKind, Skill, Tier
from muse_supervisor.domain.plans import Plan
from muse_supervisor.perception.context import ContextBundle
from muse_supervisor.reasoner.belief import KindBelief, believe
from muse_supervisor.reasoner.editing import (
    EDITED_GENERATOR,
    ArgumentEdit,
    EditError,
    edit_plan,
)
from muse_supervisor.reasoner.facts import (
    EvidenceText,
    RobotState,
    ahead,
    camera_of,
    device_of,
    evidence_texts,
    point_in_texts,
    situation_facts,
)
from muse_supervisor.reasoner.grounding import Ground, GroundingError, ground_plan
from muse_supervisor.reasoner.language import Glossary
from muse_supervisor.reasoner.maintenance import MaintenanceLog, summary
from muse_supervisor.reasoner.simulation import Simulator
from muse_supervisor.reasoner.sops import Sop, SopLibrary
from muse_supervisor.reasoner.tools import Tool, ToolBox, ToolError, ToolResult, TraceEntry
from muse_supervisor.safety.config import GateConfig
from muse_supervisor.safety.plans import PlanError, validate_plan
from muse_supervisor.sim.physics import Circle
from muse_supervisor.sim.rollout import Prediction, Situation, Verdict
from muse_supervisor.sim.world import World

MODES = ('instant', 'thinking')
OBSTACLE_AHEAD = 1.2  # m: where an obstacle the evidence does not place is assumed to be
OBSTACLE_RADIUS = 0.4  # m
RECURRING_WINDOW_DAYS = 90
_VERDICT_FACTOR = {Verdict.SUCCESS: 1.0, Verdict.FAILURE: 0.5, Verdict.UNKNOWN: 0.8,
                   Verdict.UNSAFE: 0.0, Verdict.INVALID: 0.0}  # fmt: skip


@dataclass(frozen=True)
class ReasonerSettings:
    """Deadlines, candidate count, the operator threshold and tool budgets."""

    instant_deadline: float = 0.1  # s
    thinking_deadline: float = 2.0  # s
    candidates: int = 4  # Thinking's k
    operator_threshold: float = 0.6  # below this confidence a person decides first
    max_tool_calls: int = 16
    default_camera: str = 'camera'
    battery_low: float = 0.2  # state of charge below which the robot's own reading shows it
    simulate_instant: bool = True  # simulate Instant's plan when the deadline leaves time

    def __post_init__(self) -> None:
        if not (self.instant_deadline > 0 and self.thinking_deadline > 0):
            raise ValueError('deadlines must be positive seconds')
        if not 1 <= self.candidates <= 16:
            raise ValueError(f'candidates must be in [1, 16], got {self.candidates}')
        if not 0.0 <= self.operator_threshold <= 1.0:
            raise ValueError(
                f'operator_threshold must be in [0, 1], got {self.operator_threshold}'
            )


# The generator of the plan that asks a person first (unknown kind, doubt, attempts used up).
OPERATOR_GENERATOR = 'sop/operator'


@dataclass(frozen=True)
class Candidate:
    """A plan a backend proposed, before validation and simulation."""

    plan: Plan
    sop_id: str
    hypothesis: IncidentKind
    rationale: str
    sources: tuple[str, ...]
    preference: float  # the backend's own ordering, in (0, 1]: 1 is its first choice
    generator: str


@dataclass(frozen=True)
class RankedPlan:
    """A validated candidate with its confidence, risk, prediction and score."""

    candidate: Candidate
    confidence: float
    risk: float
    requires_approval: bool
    prediction: Prediction | None
    score: float

    @property
    def plan(self) -> Plan:
        """The plan itself."""
        return self.candidate.plan

    def to_dict(self) -> dict[str, Any]:
        """The ``propose --json`` form of one plan."""
        prediction = self.prediction
        return {
            'id': self.plan.id,
            'steps': [_step_dict(step) for step in self.plan.steps],
            'tier': Tier(self.plan.tier).name,
            'digest': self.plan.digest(),
            'score': round(self.score, 4),
            'confidence': round(self.confidence, 4),
            'risk': round(self.risk, 4),
            'requires_approval': self.requires_approval,
            'rationale': self.candidate.rationale,
            'sources': list(self.candidate.sources),
            'sop': self.candidate.sop_id,
            'hypothesis': self.candidate.hypothesis.name.lower(),
            'generator': self.candidate.generator,
            'prediction': _prediction_dict(prediction),
        }


@dataclass(frozen=True)
class Proposal:
    """The reasoner's answer for one incident, best plan first."""

    incident_id: str
    belief: KindBelief
    plans: tuple[RankedPlan, ...]
    evidence: tuple[str, ...]
    trace: tuple[Any, ...]
    mode: str
    backend: str
    latency_ms: float
    summary: str
    dropped: tuple[str, ...] = ()
    agreement: float = 1.0  # share of candidates whose first step is the best plan's
    disagreement: tuple[str, ...] = ()
    timed_out: bool = False
    situation: Situation | None = None  # what the plans were simulated from (an edit is too)

    @property
    def confidence(self) -> float:
        """The belief that the governing kind and the best plan's first step are right."""
        return self.plans[0].confidence if self.plans else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The ``propose --json`` form."""
        belief = self.belief
        return {
            'incident': {
                'id': self.incident_id,
                'kind': belief.governing.name.lower(),
                'present': [k.name.lower() for k in belief.present],
                'confidence': belief.confidence,
                'conflicts': list(belief.conflicts),
                'evidence': list(self.evidence),
            },
            'plans': [plan.to_dict() for plan in self.plans],
            'confidence': round(self.confidence, 4),
            'agreement': round(self.agreement, 3),
            'disagreement': list(self.disagreement),
            'dropped': list(self.dropped),
            'summary': self.summary,
            'trace': [entry.to_dict() for entry in self.trace],
            'mode': self.mode,
            'backend': self.backend,
            'latency_ms': round(self.latency_ms, 2),
            'timed_out': self.timed_out,
        }


@dataclass
class Moment:
    """One reasoning pass's inputs, as the backend and the tools see them."""

    bundle: ContextBundle
    robot: RobotState
    texts: list[EvidenceText]
    belief: KindBelief
    facts: dict[str, Any]
    ground: Ground
    mode: str
    deadline: float
    candidates: int
    frames: Sequence[tuple[str, np.ndarray]] = ()
    extra_texts: list[EvidenceText] = field(default_factory=list)
    # This robot's bounds on numeric arguments ("reverse.distance": 1.0), from the gate.
    limits: Mapping[str, float] = field(default_factory=dict)
    plans: dict[str, Plan] = field(default_factory=dict)  # what ``simulate`` may be asked about
    ranked: list[RankedPlan] = field(default_factory=list)  # what ``summarise`` summarises


class Backend(Protocol):
    """Proposes candidate plans for a moment, using the tools it is given."""

    name: str

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        """Candidates, the backend's preferred first."""


class ImageInspector(Protocol):
    """Runs analyzers on a frame: what the ``inspect_image`` tool calls."""

    def __call__(self, pixels: np.ndarray, region: Sequence[int] | None) -> list[dict[str, Any]]:
        """Observations as dicts with at least ``signal``, ``summary`` and ``text``."""


class Reasoner:
    """Builds proposals; thread-safe for concurrent incidents once :meth:`load` has run."""

    def __init__(
        self,
        library: SopLibrary,
        embed: Callable[[Sequence[str]], np.ndarray],
        glossary: Glossary,
        gate: GateConfig,
        world: World | None,
        backend: Backend | None = None,
        simulator: Simulator | None = None,
        maintenance: MaintenanceLog | None = None,
        inspector: ImageInspector | None = None,
        settings: ReasonerSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.library, self.glossary = library, glossary
        self.gate, self.world = gate, world
        self.fallback = SopBackend(library)
        self.backend: Backend = backend or self.fallback
        self.simulator, self.maintenance, self.inspector = simulator, maintenance, inspector
        self.settings = settings or ReasonerSettings()
        self._embed = embed
        self._clock = clock
        self._indexed = False

    def load(self) -> None:
        """Embed the library (once): model load and index, before the first deadline."""
        if not self._indexed:
            self.library.index(self._embed)
            self._indexed = True

    def propose(
        self,
        bundle: ContextBundle,
        robot: RobotState,
        mode: str = 'instant',
        frames: Sequence[tuple[str, np.ndarray]] = (),
        ask_operator: bool = False,
    ) -> Proposal:
        """Reason about one incident within the mode's deadline.

        ``ask_operator``: the recoveries are used up (the incident's attempts reached the
        node's ``max_attempts``): the only plan is to ask a person.
        """
        if mode not in MODES:
            raise ValueError(f'mode {mode!r}: expected one of {MODES}')
        self.load()
        start = self._clock()
        settings = self.settings
        budget = settings.instant_deadline if mode == 'instant' else settings.thinking_deadline
        deadline = start + budget
        moment = self._read(bundle, robot, mode, deadline, frames)
        tools = ToolBox(self._tools(moment), deadline, settings.max_tool_calls, self._clock)
        if mode == 'thinking' and frames and self.inspector is not None:
            self._inspect(moment, tools)
        self._consult(moment, tools)
        valid, dropped = self._candidates(self.backend, moment, tools)
        if not valid and self.backend.name != 'sop':  # a model that failed: the SOPs answer
            fallback, more = self._candidates(self.fallback, moment, tools)
            valid, dropped = fallback, [*dropped, *more]
        if not valid or ask_operator or self._must_ask(moment):
            valid = [self._ask_operator(moment)]
        moment.plans = {c.plan.id: c.plan for c in valid}
        predictions: dict[str, Prediction] = {}
        if mode == 'thinking' or settings.simulate_instant:
            predictions = self._simulate(valid if mode == 'thinking' else valid[:1], moment, tools)
        ranked = self._rank(valid, predictions, moment)
        moment.ranked = ranked
        agreement, disagreement = _agreement(ranked)
        text = self._summary(moment, ranked, tools)
        latency = 1e3 * (self._clock() - start)
        return Proposal(
            incident_id=bundle.incident.id,
            belief=moment.belief,
            plans=tuple(ranked),
            evidence=tuple(t.quoted() for t in (*moment.texts, *moment.extra_texts)),
            trace=tuple(tools.trace),
            mode=mode,
            backend=self.backend.name,
            latency_ms=latency,
            summary=text,
            dropped=tuple(dropped),
            agreement=agreement,
            disagreement=disagreement,
            timed_out=self._clock() > deadline,
            situation=_situation(moment) if moment.robot.pose is not None else None,
        )

    # An operator's edit ------------------------------------------------------------------

    def edited(
        self, proposal: Proposal, plan_id: str, digest: str, edits: Sequence[ArgumentEdit],
        editor: str, robot: RobotState, serial: int,
    ) -> RankedPlan:  # fmt: skip
        """The operator's edit of one of ``proposal``'s plans, validated, not yet simulated.

        It keeps the plan's confidence (the same skills: the same belief). Raises
        :class:`EditError` for no editor, a plan that is not in the proposal, a digest other
        than the plan's (it changed since the operator saw it), an edit that cannot be applied,
        or an edited plan the one validator refuses (its message says which rule).
        """
        if not editor.strip():
            raise EditError('the editor is empty: an edit names the operator who made it')
        ranked = next((r for r in proposal.plans if r.plan.id == plan_id), None)
        if ranked is None:
            raise EditError(f'plan {plan_id!r} is not in the latest proposal for '
                            f'{proposal.incident_id!r}')  # fmt: skip
        if ranked.plan.digest() != digest:
            raise EditError(f'plan {plan_id!r} changed since it was shown (digest '
                            f'{digest[:12]}…): look again')  # fmt: skip
        plan, changes = edit_plan(ranked.plan, edits, serial)
        present = set(proposal.belief.present)
        facts = {'person': bool(robot.person) or IncidentKind.PERSON_IN_ZONE in present,
                 'estop': bool(robot.estop) or IncidentKind.ESTOP_ACTIVE in present}  # fmt: skip
        why = validate_candidate(plan, self.gate, facts)
        if why:
            raise EditError(f'the edited plan is refused: {why}')
        candidate = replace(
            ranked.candidate, plan=plan, generator=EDITED_GENERATOR,
            rationale=f'{ranked.candidate.rationale} Edited by {editor}: {"; ".join(changes)}.',
        )  # fmt: skip
        return replace(ranked, candidate=candidate, risk=_prior_risk(plan), prediction=None,
                       requires_approval=_needs_approval(plan, self.gate))  # fmt: skip

    def with_edited(self, proposal: Proposal, edited: RankedPlan, timeout: float) -> Proposal:
        """``proposal`` with the ``edited`` plan simulated again and shown first."""
        start = self._clock()
        if self.simulator is not None and proposal.situation is not None:
            [prediction] = self.simulator.evaluate([edited.plan], proposal.situation, timeout)
            if prediction is not None:
                edited = replace(edited, prediction=prediction, risk=prediction.risk)
        verdict = 'not simulated' if edited.prediction is None else edited.prediction.verdict.name
        entry = TraceEntry('edit', {'plan': edited.plan.id}, f'{edited.plan.id}: {verdict}',
                           1e3 * (self._clock() - start))  # fmt: skip
        others = tuple(r for r in proposal.plans if r.plan.id != edited.plan.id)
        return replace(proposal, plans=(edited, *others), trace=(*proposal.trace, entry))

    # The steps of one pass ---------------------------------------------------------------

    def _read(
        self,
        bundle: ContextBundle,
        robot: RobotState,
        mode: str,
        deadline: float,
        frames: Sequence[tuple[str, np.ndarray]],
    ) -> Moment:
        texts = evidence_texts(bundle)
        if bundle.mission is not None and bundle.mission.step_description:
            texts.append(EvidenceText(bundle.mission.step_description, 'mission', 'mission'))
        belief = self._believe(bundle, robot, texts)
        governing = belief.governing.name.lower()
        obstacle = point_in_texts(texts, robot.pose)
        if obstacle is None and robot.pose is not None:
            obstacle = ahead(robot.pose, OBSTACLE_AHEAD)
        known = frozenset(w.name for w in self.gate.waypoints)
        ground = Ground(
            world=self.world,
            pose=robot.pose,
            known_waypoints=known,
            obstacle=obstacle,
            spill=obstacle,
            device=device_of(bundle, governing),
            camera=camera_of(bundle, self.settings.default_camera),
        )
        facts = situation_facts(bundle, robot, **ground.facts())
        fields = _fields(bundle, robot, texts, belief, ground)
        ground = replace(ground, fields=fields)
        count = 1 if mode == 'instant' else self.settings.candidates
        limits = self.gate.limits
        bounds = {
            'slow_down.max_speed': limits.max_linear_speed,
            'reverse.distance': limits.max_reverse_distance,
            'wait.seconds': limits.max_wait,
        }
        return Moment(bundle, robot, texts, belief, facts, ground, mode, deadline, count, frames,
                      limits=bounds)  # fmt: skip

    def _believe(
        self, bundle: ContextBundle, robot: RobotState, texts: Sequence[EvidenceText]
    ) -> KindBelief:
        translated = [self.glossary.translate(t.text).text for t in texts]
        matches = self.library.similarities(self._embed(translated)) if translated else []
        safety: dict[IncidentKind, str] = {}
        if robot.estop:
            safety[IncidentKind.ESTOP_ACTIVE] = 'e-stop input engaged'
        if robot.person:
            safety[IncidentKind.PERSON_IN_ZONE] = 'safety scanner: person in the protective zone'
        if robot.battery is not None and robot.battery < self.settings.battery_low:
            safety[IncidentKind.LOW_BATTERY] = f'battery state of charge {robot.battery:.0%}'
        rules: dict[IncidentKind, float] = {}
        for cause in bundle.incident.causes:
            if cause.active and cause.kind is not IncidentKind.UNKNOWN:
                confidence = max(
                    (o.confidence for o in bundle.evidence if o.attribute('key') == cause.key),
                    default=0.8,
                )
                rules[cause.kind] = max(rules.get(cause.kind, 0.0), confidence)
        # Kinds known to be clear now: the robot's e-stop or scanner input heard and clear, or
        # every cause of the kind in this incident seen cleared by perception (history, such as
        # an odometry silence that ended before the battery ran low).
        active = {cause.kind for cause in bundle.incident.causes if cause.active}
        cleared = frozenset(
            {kind for kind, heard in ((IncidentKind.ESTOP_ACTIVE, robot.estop),
                                      (IncidentKind.PERSON_IN_ZONE, robot.person))
             if heard is False}
            | {cause.kind for cause in bundle.incident.causes if cause.kind not in active}
        )  # fmt: skip
        return believe(texts, matches, safety, rules, cleared)

    def _consult(self, moment: Moment, tools: ToolBox) -> None:
        """The ``sop`` backend's fixed policy of look-ups before it proposes."""
        for name in ('mission_state', 'sop'):
            with contextlib.suppress(ToolError):  # refused calls are in the trace
                tools.call(name, {})
        device = moment.ground.device
        if device and self.maintenance is not None:
            try:
                records = tools.call('maintenance_log', {'device': device, 'limit': 10})
            except ToolError:
                records = []
            recent = [r for r in records if _days_ago(r['date']) <= RECURRING_WINDOW_DAYS]
            moment.facts['recurring_fault'] = len(recent) >= 1
        else:
            moment.facts['recurring_fault'] = False

    def _inspect(self, moment: Moment, tools: ToolBox) -> None:
        try:
            observations = tools.call('inspect_image', {'frame': moment.frames[-1][0]})
        except ToolError:
            return
        for observation in observations:
            if observation.get('text'):
                moment.extra_texts.append(
                    EvidenceText(observation['text'], 'camera', observation['signal'])
                )
        if moment.extra_texts:
            texts = [*moment.texts, *moment.extra_texts]
            moment.belief = self._believe(moment.bundle, moment.robot, texts)

    def _candidates(
        self, backend: Backend, moment: Moment, tools: ToolBox
    ) -> tuple[list[Candidate], list[str]]:
        """The backend's valid candidates and why the others were dropped."""
        try:
            candidates = backend.candidates(moment, tools)
        except Exception as error:  # a failing backend proposes nothing; the pass goes on
            return [], [f'backend {backend.name} failed: {error!r}']
        return self._validate(candidates, moment)

    def _validate(
        self, candidates: Sequence[Candidate], moment: Moment
    ) -> tuple[list[Candidate], list[str]]:
        valid: list[Candidate] = []
        dropped: list[str] = []
        for candidate in candidates:
            problem = validate_candidate(candidate.plan, self.gate, moment.facts)
            if problem:
                dropped.append(f'{candidate.plan.id}: {problem}')
            else:
                valid.append(candidate)
        return valid, dropped

    def _must_ask(self, moment: Moment) -> bool:
        belief = moment.belief
        return (
            belief.governing is IncidentKind.UNKNOWN
            or belief.confidence < self.settings.operator_threshold
        )

    def _ask_operator(self, moment: Moment) -> Candidate:
        """Ask a person first; stop too if the robot moves. Never motion (invariant 6)."""
        belief = moment.belief
        unsure = max(
            (k for k in belief.support if k is not belief.governing),
            key=lambda k: belief.support[k],
            default=None,
        )
        reading = belief.governing.name.lower()
        if unsure is not None:
            reading += f' or {unsure.name.lower()}'
        sop = self.library.for_kind(IncidentKind.UNKNOWN)[0]
        fields = dict(moment.ground.fields or {})
        fields['evidence'] = (
            f'unsure: {reading}, confidence {belief.confidence:.2f}; {fields.get("evidence", "")}'
        )
        ground = replace(moment.ground, fields=fields)
        plan = ground_plan(sop, ground, f'{moment.bundle.incident.id}:{sop.id}:0',
                           moment.bundle.incident.id)  # fmt: skip
        return Candidate(
            plan, sop.id, belief.governing,
            f'{sop.rationale} Reading: {reading} (confidence {belief.confidence:.2f}, threshold '
            f'{self.settings.operator_threshold:.2f}).',
            sop.citations, 1.0, OPERATOR_GENERATOR,
        )  # fmt: skip

    def _simulate(
        self, candidates: Sequence[Candidate], moment: Moment, tools: ToolBox
    ) -> dict[str, Prediction]:
        if self.simulator is None or moment.robot.pose is None or not candidates:
            return {}
        try:
            value = tools.call('simulate', {'plans': [c.plan.id for c in candidates]})
        except ToolError:
            return {}
        return dict(value)

    def _rank(
        self, candidates: Sequence[Candidate], predictions: Mapping[str, Prediction],
        moment: Moment,
    ) -> list[RankedPlan]:  # fmt: skip
        ranked = []
        for candidate in candidates:
            prediction = predictions.get(candidate.plan.id)
            verdict = prediction.verdict if prediction is not None else Verdict.UNKNOWN
            risk = prediction.risk if prediction is not None else _prior_risk(candidate.plan)
            hypothesis = 1.0 if candidate.hypothesis is moment.belief.governing else 0.5
            confidence = moment.belief.confidence * hypothesis
            if candidate.generator == OPERATOR_GENERATOR:
                confidence = max(confidence, 1.0 - moment.belief.confidence)
            score = candidate.preference * hypothesis * _VERDICT_FACTOR[verdict] * (1 - risk / 2)
            ranked.append(
                RankedPlan(
                    candidate, round(confidence, 4), risk,
                    requires_approval=_needs_approval(candidate.plan, self.gate),
                    prediction=prediction, score=score,
                )
            )  # fmt: skip
        ranked.sort(key=lambda r: -r.score)
        return ranked

    def _summary(self, moment: Moment, ranked: Sequence[RankedPlan], tools: ToolBox) -> str:
        try:
            text = tools.call('summarise', {})
        except ToolError:
            text = operator_summary(moment, ranked)
        return str(text)

    # Tools ---------------------------------------------------------------------------------

    def _tools(self, moment: Moment) -> dict[str, Tool]:
        def sop(arguments: Mapping[str, Any]) -> ToolResult:
            kind_name = arguments.get('kind') or moment.belief.governing.name.lower()
            kind = IncidentKind[kind_name.upper()]
            entries = []
            for procedure in self.library.for_kind(kind):
                applies, why = procedure.applies(moment.facts)
                entries.append({'id': procedure.id, 'title': procedure.title,
                                'applies': applies, 'why_not': why,
                                'citations': list(procedure.citations)})  # fmt: skip
            usable = [e['id'] for e in entries if e['applies']]
            return ToolResult(
                entries, f'{kind_name}: {len(entries)} procedure(s), usable {usable}'
            )

        def mission_state(arguments: Mapping[str, Any]) -> ToolResult:
            mission = moment.bundle.mission
            if mission is None:
                return ToolResult(None, 'no mission state')
            return ToolResult(
                mission.to_dict(),
                f'mission {mission.mission_id or "-"} {mission.status.name.lower()}, step '
                f'{mission.step_description!r}, {mission.step_elapsed:.0f} s in',
            )

        def maintenance_log(arguments: Mapping[str, Any]) -> ToolResult:
            if self.maintenance is None:
                return ToolResult([], 'no maintenance log configured')
            records = self.maintenance.query(
                device=arguments.get('device') or None,
                fault=arguments.get('fault') or None,
                robot_id=moment.bundle.incident.robot_id or None,
                limit=int(arguments.get('limit', 10)),
            )
            return ToolResult([r.to_dict() for r in records], summary(records, 300) or 'none')

        def inspect_image(arguments: Mapping[str, Any]) -> ToolResult:
            if self.inspector is None:
                return ToolResult([], 'no image analyzers')
            frames = dict(moment.frames)
            name = arguments.get('frame') or (moment.frames[-1][0] if moment.frames else '')
            if name not in frames:
                raise ToolError(f'no frame {name!r}; frames: {sorted(frames)}')
            region = arguments.get('region')
            observations = self.inspector(frames[name], region)
            signals = sorted({o['signal'] for o in observations})
            return ToolResult(observations, f'{name}: {signals or "nothing found"}')

        def simulate(arguments: Mapping[str, Any]) -> ToolResult:
            assert self.simulator is not None and moment.robot.pose is not None
            unknown = [i for i in arguments['plans'] if i not in moment.plans]
            if unknown:
                raise ToolError(f'no candidate plan(s) {unknown}')
            plans = [moment.plans[i] for i in arguments['plans']]
            remaining = max(0.0, moment.deadline - self._clock())
            results = self.simulator.evaluate(plans, _situation(moment), remaining)
            done = {p.id: r for p, r in zip(plans, results, strict=True) if r is not None}
            verdicts = [f'{r.verdict.name.lower()}' for r in done.values()]
            return ToolResult(done, f'{len(done)}/{len(plans)} evaluated: {verdicts}')

        def summarise(arguments: Mapping[str, Any]) -> ToolResult:
            text = operator_summary(moment, moment.ranked)
            return ToolResult(text, text.splitlines()[0] if text else '')

        kinds = [k.name.lower() for k in IncidentKind]
        obj = {'type': 'object', 'additionalProperties': False}
        return {
            'sop': Tool('sop', 'Standard operating procedures for an incident kind, with whether '
                        'each applies now.',
                        {**obj, 'properties': {'kind': {'type': 'string', 'enum': kinds}}}, sop),
            'mission_state': Tool('mission_state', 'The mission snapshot: id, status, step.',
                                  {**obj, 'properties': {}}, mission_state),
            'maintenance_log': Tool(
                'maintenance_log', "The robot's maintenance records for a device or fault.",
                {**obj, 'properties': {
                    'device': {'type': 'string', 'maxLength': 100},
                    'fault': {'type': 'string', 'maxLength': 100},
                    'limit': {'type': 'integer', 'minimum': 1, 'maximum': 50}}},
                maintenance_log),
            'inspect_image': Tool(
                'inspect_image', 'Run the perception analyzers on a key frame or a region.',
                {**obj, 'properties': {
                    'frame': {'type': 'string', 'maxLength': 200},
                    'region': {'type': 'array', 'items': {'type': 'integer', 'minimum': 0},
                               'maxItems': 4}}},
                inspect_image),
            'simulate': Tool(
                'simulate', 'Predict what candidate plans would do, in parallel.',
                {**obj, 'required': ['plans'], 'properties': {
                    'plans': {'type': 'array', 'items': {'type': 'string'}, 'maxItems': 16}}},
                simulate),
            'summarise': Tool('summarise', 'The operator summary: what happened, evidence, '
                              'options, recommendation.', {**obj, 'properties': {}}, summarise),
        }  # fmt: skip


class SopBackend:
    """The offline default: the SOP library's procedures, grounded; no model involved.

    Instant: the first procedure for the governing kind that applies. Thinking: up to k
    candidates: every applicable procedure for the governing kind with its variants, then those
    of the strongest competing hypothesis (a kind with support but not governing), so that the
    simulator and the operator see real alternatives.
    """

    name = 'sop'

    def __init__(self, library: SopLibrary) -> None:
        self.library = library

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        """See :class:`Backend`."""
        belief = moment.belief
        hypotheses = [belief.governing]
        if moment.mode == 'thinking':
            others = sorted(
                (
                    k
                    for k in belief.support
                    if k is not belief.governing and belief.support[k] >= 0.25
                ),
                key=lambda k: -belief.support[k],
            )
            hypotheses.extend(others[:1])
        found: list[Candidate] = []
        for hypothesis in hypotheses:
            found.extend(self._for_kind(hypothesis, moment))
        return found[: moment.candidates]

    def _for_kind(self, kind: IncidentKind, moment: Moment) -> list[Candidate]:
        found = []
        rank = 0
        for sop in self.library.for_kind(kind):
            applies, _ = sop.applies(moment.facts)
            if not applies:
                continue
            variants: list[Mapping[str, Any]] = [{}]
            if moment.mode == 'thinking':
                variants.extend(sop.variants)
            for index, variant in enumerate(variants):
                plan_id = f'{moment.bundle.incident.id}:{sop.id}:{index}'
                try:
                    plan = ground_plan(sop, moment.ground, plan_id, moment.bundle.incident.id,
                                       variant)  # fmt: skip
                except GroundingError:
                    break
                found.append(
                    Candidate(
                        plan, sop.id, kind, _rationale(sop, moment, kind),
                        (f'{sop.id}: {sop.title}', *sop.citations), 1.0 / (1 + rank),
                        f'sop/{moment.mode}',
                    )
                )  # fmt: skip
                rank += 1
                if moment.mode == 'instant':
                    return found
        return found


def validate_candidate(plan: Plan, gate: GateConfig, facts: Mapping[str, Any]) -> str:
    """Why ``plan`` must be dropped, or ``''``: the one validator every backend's plans pass.

    It is the gate's own :func:`~muse_supervisor.safety.plans.validate_plan` (schema, skill
    allow-list, tiers, argument ranges and the robot's limits, known waypoints, motion while a
    safety invariant holds), with no approvals given: a plan that only lacks an operator's
    approval is valid and marked ``requires_approval``.
    """
    invariant = ''
    if facts.get('person'):
        invariant = 'a person is in the protective zone'
    elif facts.get('estop'):
        invariant = 'the e-stop is engaged'
    verdict = validate_plan(plan, gate, {}, invariant)
    if verdict.ok or verdict.error is PlanError.APPROVAL_REQUIRED:
        return ''
    return f'{verdict.error.name}: {verdict.message}'


def _needs_approval(plan: Plan, gate: GateConfig) -> bool:
    verdict = validate_plan(plan, gate, {})
    return verdict.error is PlanError.APPROVAL_REQUIRED or plan.requires_approval


def _prior_risk(plan: Plan) -> float:
    """Risk before any simulation: motion and tier C add to it."""
    moves = any(SKILLS[Skill(s.skill)].moves_robot for s in plan.steps)
    return min(1.0, (0.2 if moves else 0.0) + (0.3 if plan.tier >= Tier.C else 0.0))


def _situation(moment: Moment) -> Situation:
    """Where things stand for the simulator: pose, battery, e-stop, what blocks the way."""
    robot, belief, ground = moment.robot, moment.belief, moment.ground
    assert robot.pose is not None
    obstacles: tuple[Circle, ...] = ()
    spills: tuple[Circle, ...] = ()
    people: tuple[Circle, ...] = ()
    present = set(belief.present)
    if IncidentKind.PATH_BLOCKED in present and ground.obstacle is not None:
        obstacles = (Circle('obstacle', *ground.obstacle, OBSTACLE_RADIUS),)
    if IncidentKind.SPILL_OR_DEBRIS in present and ground.spill is not None:
        spills = (Circle('spill', *ground.spill, 0.6),)
    if IncidentKind.PERSON_IN_ZONE in present:
        people = (Circle('person', *ahead(robot.pose, 1.0), 0.5),)
    resolved_at = None
    if belief.governing is IncidentKind.LOW_BATTERY and ground.world is not None:
        try:
            charger = ground.nearest('charger')
            resolved_at = (charger.x, charger.y, 0.5)
        except GroundingError:
            pass
    return Situation(
        pose=robot.pose, battery=1.0 if robot.battery is None else robot.battery,
        estop_engaged=bool(moment.facts.get('estop')), obstacles=obstacles, people=people,
        spills=spills, resolved_at=resolved_at,
    )  # fmt: skip


def _fields(
    bundle: ContextBundle,
    robot: RobotState,
    texts: Sequence[EvidenceText],
    belief: KindBelief,
    ground: Ground,
) -> dict[str, str]:
    """Message fields: trusted values as they are, world texts quoted and bounded."""
    strongest = [t for t in texts if t.channel in ('alarm', 'log')][:2] or list(texts[:1])
    mission = bundle.mission
    fields = {
        'kind': belief.governing.name.lower(),
        'device': ground.device or 'the device',
        'camera': ground.camera,
        'battery_pct': '?' if robot.battery is None else f'{100 * robot.battery:.0f} %',
        'attempts': str(bundle.incident.attempts),
        'expected_item': mission.expected_payload if mission and mission.expected_payload
        else 'the planned item',
        'evidence': '; '.join(t.quoted() for t in strongest) or 'no text evidence',
    }  # fmt: skip
    for kind in ('charger', 'dock'):
        try:
            fields[f'nearest_{kind}'] = ground.nearest(kind).name
        except GroundingError:
            fields[f'nearest_{kind}'] = f'no {kind}'
    return fields


def _rationale(sop: Sop, moment: Moment, kind: IncidentKind) -> str:
    belief = moment.belief
    reasons = belief.reasons.get(kind, ())
    best = max(reasons, key=lambda s: s.value, default=None)
    because = f' Evidence: {best.why}.' if best is not None else ''
    return f'{sop.title}. {sop.rationale}{because}'


def _agreement(ranked: Sequence[RankedPlan]) -> tuple[float, tuple[str, ...]]:
    """Share of candidates whose first step is the best one's, and the other first steps."""
    if not ranked:
        return 0.0, ()
    first = [SKILLS[Skill(r.plan.steps[0].skill)].name for r in ranked]
    others = tuple(dict.fromkeys(
        f'{r.candidate.sop_id} starts with {name}' for r, name in zip(ranked, first, strict=True)
        if name != first[0]
    ))  # fmt: skip
    return first.count(first[0]) / len(first), others


def _days_ago(iso: str) -> float:
    try:
        day = date.fromisoformat(iso)
    except ValueError:
        return math.inf
    return (date.today() - day).days


def operator_summary(moment: Moment, ranked: Sequence[RankedPlan]) -> str:
    """What happened, the evidence, the options and the recommendation, for a person."""
    belief = moment.belief
    lines = [
        f'What happened: {belief.governing.name.lower()} (confidence {belief.confidence:.2f})'
        + (f', also {", ".join(k.name.lower() for k in belief.present[1:])}'
           if len(belief.present) > 1 else ''),
    ]  # fmt: skip
    if belief.conflicts:
        lines.append(f'Doubts: {"; ".join(belief.conflicts)}')
    evidence = [t.quoted() for t in (*moment.texts, *moment.extra_texts)][:4]
    if evidence:
        lines.append('Evidence (quoted, not instructions): ' + ' | '.join(evidence))
    for index, option in enumerate(ranked[:3], 1):
        steps = ', '.join(SKILLS[Skill(s.skill)].name for s in option.plan.steps)
        prediction = option.prediction
        outcome = prediction.explanation if prediction is not None else 'not simulated'
        approval = ' [needs approval]' if option.requires_approval else ''
        lines.append(f'Option {index} ({option.candidate.sop_id}): {steps}{approval} - {outcome}')
    if ranked:
        best = ranked[0]
        lines.append(f'Recommendation: option 1, {best.candidate.sop_id} '
                     f'(confidence {best.confidence:.2f})')  # fmt: skip
    return '\n'.join(lines)


def _step_dict(step: Any) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for argument in step.arguments:
        if argument.pose is not None:
            pose = argument.pose
            args[argument.name] = {'frame_id': pose.frame_id, 'x': pose.x, 'y': pose.y,
                                   'yaw': pose.yaw}  # fmt: skip
        elif argument.text:
            args[argument.name] = argument.text
        else:
            args[argument.name] = argument.number
    return {'skill': SKILLS[Skill(step.skill)].name, 'args': args}


def _prediction_dict(prediction: Prediction | None) -> dict[str, Any] | None:
    if prediction is None:
        return None
    clearance = prediction.min_clearance
    return {
        'verdict': prediction.verdict.name.lower(),
        'feasible': prediction.feasible,
        'resolves': prediction.resolves,
        'duration_s': round(prediction.duration, 2),
        'distance_m': round(prediction.distance, 2),
        'min_clearance_m': None if math.isinf(clearance) else round(clearance, 3),
        'risk': round(prediction.risk, 3),
        'failing_step': prediction.failing_step,
        'findings': list(prediction.findings),
        'explanation': prediction.explanation,
    }
