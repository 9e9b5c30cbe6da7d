"""Plan execution: one approved plan at a time, step by step, every motion through the gate.

:class:`PlanRunner` validates a plan before its first step, uses up its approval, starts each
step's skill executor and ticks it until it ends, and stops the plan when it is canceled, when
its step times out, when the gate is deactivated, or when a safety invariant (a latched stop, a
stalled clock) appears while a step moves the robot. Time is injected (``now`` is the gate clock;
sleeping is only pacing), so the same code runs in the gate's plan worker, in the tests and in
the simulator's rollouts.

:class:`PlanSlot` is the one-plan rule: a goal reserves the slot when it arrives (on the gate's
executor thread, before the worker starts), so a second goal sent back to back is refused with
a clear message, deterministically.

Locking: every call into the :class:`~muse_supervisor.safety.gate.GateCore` holds the gate's
lock; the executors' ticks run outside it (their context takes the lock itself).
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from muse_supervisor.domain import SKILLS, Skill
from muse_supervisor.domain.motion import ZERO, Pose2D
from muse_supervisor.domain.plans import Plan
from muse_supervisor.safety.approvals import ApprovalBook
from muse_supervisor.safety.config import GateConfig, KeepOutZone
from muse_supervisor.safety.gate import Cause, GateCore
from muse_supervisor.safety.plans import PlanError, validate_plan
from muse_supervisor.safety.skills import (
    EXECUTORS,
    Navigation,
    NoticeKind,
    SkillExecutor,
    StepState,
    StepUpdate,
    step_timeout,
)

FEEDBACK_PERIOD = 0.5  # s between progress events within a step


class StepPhase(enum.IntEnum):
    """Values equal ``ExecutePlan.Feedback.STEP_*``."""

    STARTED = 1
    RUNNING = 2
    SUCCEEDED = 3
    FAILED = 4


@dataclass(frozen=True)
class StepEvent:
    """Progress of the running plan, for the action's feedback."""

    index: int
    count: int
    phase: StepPhase
    update: StepUpdate


@dataclass(frozen=True)
class Outcome:
    """How a plan ended."""

    error: PlanError
    message: str
    steps_completed: int


class RobotServices(Protocol):
    """What the gate node does for a plan's steps on the robot (ROS calls)."""

    def notice(
        self, kind: NoticeKind, role: str, message: str, camera: str, plan_id: str, step: int
    ) -> None:
        """Publish an operator notice."""

    def start_trigger(self, service: str) -> None:
        """Call a std_srvs/Trigger service asynchronously, once it is available."""

    def trigger_available(self, service: str) -> bool:
        """Whether ``service`` has been found."""

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        """(success, message) of the call to ``service``; ``None`` while pending."""

    def navigate(
        self, x: float, y: float, yaw: float, frame: str, on_accepted: Callable[[], None]
    ) -> Navigation | None:
        """Hand a goal to Nav2; ``None``: use the built-in controller."""


class PlanSlot:
    """At most one plan at a time. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._goal = ''
        self._plan_id = ''
        self.step = -1

    def reserve(self, goal: str, plan_id: str) -> str:
        """Take the slot for ``goal``; return why not (``''``: taken)."""
        with self._lock:
            if self._goal:
                return (
                    f'plan {self._plan_id!r} is running (step {self.step}): cancel it or wait '
                    f'for it to end before sending plan {plan_id!r}'
                )
            self._goal, self._plan_id, self.step = goal, plan_id, -1
            return ''

    def release(self, goal: str) -> None:
        """Free the slot if ``goal`` holds it."""
        with self._lock:
            if self._goal == goal:
                self._goal, self._plan_id, self.step = '', '', -1

    @property
    def plan_id(self) -> str:
        """The running plan's id (``''`` when none)."""
        return self._plan_id


class GateSkillContext:
    """The :class:`~muse_supervisor.safety.skills.SkillContext` of one plan: gate and robot."""

    def __init__(
        self,
        core: GateCore,
        lock: AbstractContextManager[object],
        services: RobotServices,
        plan_id: str,
        clock: Callable[[], float],
    ) -> None:
        self.core, self.lock, self.services = core, lock, services
        self.config: GateConfig = core.config
        self.plan_id = plan_id
        self.step_index = 0
        self._clock = clock

    def pose(self) -> Pose2D | None:
        """The robot's latest fresh pose (see SkillContext for these methods)."""
        with self.lock:
            return self.core.pose(self._clock())

    def notice(self, kind: NoticeKind, role: str, message: str, camera: str) -> None:  # noqa: D102
        self.services.notice(kind, role, message, camera, self.plan_id, self.step_index)

    def set_speed_cap(self, cap: float | None) -> None:  # noqa: D102
        with self.lock:
            self.core.set_speed_cap(cap)

    def add_keep_out(self, zone: KeepOutZone) -> None:  # noqa: D102
        with self.lock:
            self.core.add_keep_out_zone(zone)

    def start_trigger(self, service: str) -> None:  # noqa: D102
        self.services.start_trigger(service)

    def trigger_available(self, service: str) -> bool:  # noqa: D102
        return self.services.trigger_available(service)

    def trigger_result(self, service: str) -> tuple[bool, str] | None:  # noqa: D102
        return self.services.trigger_result(service)

    def navigate(self, x: float, y: float, yaw: float, frame: str) -> Navigation | None:
        """Hand a goal to Nav2 (unless builtin); Nav2 drives once it accepts the goal."""
        limits = self.config.limits
        if limits.navigation_backend == 'builtin':
            return None
        source = limits.nav2_source

        def hand_over() -> None:  # Nav2 accepted the goal: its controller drives the plan
            with self.lock:
                self.core.delegate_plan_motion(source)

        return self.services.navigate(x, y, yaw, frame or limits.nav2_frame, hand_over)


class PlanRunner:
    """Runs one plan (see module docstring)."""

    def __init__(
        self,
        core: GateCore,
        lock: AbstractContextManager[object],
        plan: Plan,
        services: RobotServices,
        approvals: ApprovalBook,
        on_event: Callable[[StepEvent], None],
        clock: Callable[[], float],
    ) -> None:
        self.core, self.lock, self.plan = core, lock, plan
        self.approvals = approvals
        self.on_event = on_event
        self.context = GateSkillContext(core, lock, services, plan.id, clock)
        self.index = -1
        self._executor: SkillExecutor | None = None
        self._deadline = 0.0
        self._last_feedback = 0.0
        self._started = False

    def run(
        self,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        cancel_requested: Callable[[], bool],
    ) -> Outcome:
        """Run the plan to its end; fail closed on any error (latch a stop, say why)."""
        outcome: Outcome | None = None
        try:
            outcome = self.start(clock())
            while outcome is None:
                sleep(self.core.config.period)
                outcome = self.tick(clock(), cancel_requested())
        except Exception as error:
            with self.lock:
                self.core.latch_fault(Cause.INTERNAL_ERROR, f'plan execution: {error!r}', clock())
            outcome = Outcome(
                PlanError.UNKNOWN, f'plan execution failed: {error!r}', max(self.index, 0)
            )
        finally:
            self.close(clock())
        return outcome

    def start(self, now: float) -> Outcome | None:
        """Validate the plan and start its first step; an outcome when it may not run."""
        with self.lock:
            core = self.core
            if not core.active:
                return Outcome(PlanError.GATE_NOT_ACTIVE, 'gate is not active', 0)
            verdict = validate_plan(
                self.plan, core.config, self.approvals.valid(now), core.invariant_active(now)
            )
            if verdict.error is PlanError.APPROVAL_REQUIRED:
                return Outcome(verdict.error, self.approvals.why_not(self.plan, now), 0)
            if not verdict.ok:
                return Outcome(verdict.error, verdict.message, 0)
            self.approvals.consume(self.plan.id, now)
            core.set_plan_running(True, now)
            core.plan_command(ZERO, now)  # a fresh command before the stale check can fire
            self._started = True
        self._start_step(0, now)
        return None

    def tick(self, now: float, cancel_requested: bool) -> Outcome | None:
        """Advance the running step to ``now``; an outcome once the plan has ended."""
        executor = self._executor
        assert executor is not None, 'tick() before start()'
        index = self.index
        step = self.plan.steps[index]
        if cancel_requested:
            with self.lock:
                self.core.cancel_plan(now)
            return Outcome(PlanError.CANCELED, f'canceled during step {index}', index)
        with self.lock:
            active = self.core.active
            blocking = self.core.invariant_active(now)
            if self.core.clock_stalled:
                blocking = '; '.join(filter(None, (blocking, 'the gate clock has stopped')))
        if not active:
            return Outcome(
                PlanError.GATE_NOT_ACTIVE, f'gate deactivated during step {index}', index
            )
        if blocking and SKILLS[Skill(step.skill)].moves_robot:
            return Outcome(
                PlanError.SAFETY_INVARIANT_ACTIVE, f'step {index} stopped: {blocking}', index
            )
        update = executor.tick(now)
        with self.lock:
            self.core.plan_command(update.command or ZERO, now)
        if update.state is StepState.SUCCEEDED:
            self._event(StepPhase.SUCCEEDED, update)
            self._end_step()
            if index + 1 == len(self.plan.steps):
                return Outcome(PlanError.NONE, 'plan completed', len(self.plan.steps))
            self._start_step(index + 1, now)
            return None
        if update.state is StepState.FAILED:
            self._event(StepPhase.FAILED, update)
            return Outcome(PlanError.STEP_FAILED, f'step {index} failed: {update.text}', index)
        if now > self._deadline:
            self._event(StepPhase.FAILED, update)
            return Outcome(
                PlanError.STEP_TIMEOUT,
                f'step {index} took longer than {step_timeout(step):g} s ({update.text})',
                index,
            )
        if now - self._last_feedback >= FEEDBACK_PERIOD:
            self._event(StepPhase.RUNNING, update)
            self._last_feedback = now
        return None

    def close(self, now: float) -> None:
        """The plan has ended, however: let go of the step, then of the plan's motion."""
        self._end_step()
        if self._started:
            with self.lock:
                self.core.set_plan_running(False, now)

    def _start_step(self, index: int, now: float) -> None:
        step = self.plan.steps[index]
        self.index = self.context.step_index = index
        self._deadline = now + step_timeout(step)
        self._last_feedback = now
        self._executor = EXECUTORS[Skill(step.skill)](step, now, self.context)
        self._event(StepPhase.STARTED, StepUpdate(StepState.RUNNING, None, 0.0, 'started'))

    def _end_step(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            executor.close()  # e.g. cancel the step's Nav2 goal, then take its source back
        finally:
            with self.lock:
                self.core.delegate_plan_motion('')

    def _event(self, phase: StepPhase, update: StepUpdate) -> None:
        self.on_event(StepEvent(self.index, len(self.plan.steps), phase, update))
