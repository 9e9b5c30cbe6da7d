"""Plan execution without ROS: the runner, the one-plan slot, the graph guard, what the log says.

The runner's paths that had no test before (an invariant appearing during a moving step, a step
timeout, deactivation during a step) are here, on a fake clock, against the real gate core.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from muse_supervisor.domain import ArgumentType, Skill, Tier
from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.domain.plans import Argument, Plan, Step
from muse_supervisor.safety.approvals import ApprovalBook, Decision, DecisionRequest
from muse_supervisor.safety.config import GateConfig, GateLimits
from muse_supervisor.safety.gate import Cause, GateCore, GateOutput, GateState, Stop
from muse_supervisor.safety.graph_guard import rogue_publishers
from muse_supervisor.safety.plans import PlanError
from muse_supervisor.safety.reporting import StatusReporter
from muse_supervisor.safety.runner import Outcome, PlanRunner, PlanSlot, StepEvent, StepPhase
from muse_supervisor.safety.skills import Navigation, NoticeKind

CONFIG = GateConfig(limits=GateLimits(navigation_backend='builtin'))
T0 = 100.0
NUMBER = int(ArgumentType.NUMBER)


@dataclass
class Services:
    """The robot side: notices and trigger services, recorded."""

    notices: list[str] = field(default_factory=list)
    answers: dict[str, tuple[bool, str]] = field(default_factory=dict)

    def notice(
        self, kind: NoticeKind, role: str, message: str, camera: str, plan_id: str, step: int
    ) -> None:
        self.notices.append(f'{plan_id}/{step}: {message}')

    def start_trigger(self, service: str) -> None:
        pass

    def trigger_available(self, service: str) -> bool:
        return True

    def trigger_result(self, service: str) -> tuple[bool, str] | None:
        return self.answers.get(service)

    def navigate(
        self, x: float, y: float, yaw: float, frame: str, on_accepted: Callable[[], None]
    ) -> Navigation | None:
        return None


class Robot:
    """A gate core on a fake clock with a base that does what the gate publishes."""

    def __init__(self, config: GateConfig = CONFIG) -> None:
        self.now = T0
        self.core = GateCore(config, T0)
        self.core.activate(T0)
        self.core.estop(False, T0)
        self.lock = threading.Lock()
        self.pose = Pose2D(0.0, 0.0, 0.0)
        self.services = Services()
        self.approvals = ApprovalBook(config.limits)
        self.events: list[StepEvent] = []
        self.hooks: dict[float, Callable[[], None]] = {}  # at time -> what happens then
        self.feed()

    def clock(self) -> float:
        return self.now

    def feed(self) -> GateOutput:
        self.core.heartbeat(self.now, self.now)
        self.core.odometry(self.pose, self.now)
        return self.core.update(self.now)

    def sleep(self, seconds: float) -> None:
        out = self.feed()
        self.now += seconds
        self.pose = Pose2D(
            self.pose.x + out.command.linear * seconds, self.pose.y,
            self.pose.yaw + out.command.angular * seconds, out.command.linear,
            out.command.angular,
        )  # fmt: skip
        for at in [t for t in self.hooks if t <= self.now]:
            self.hooks.pop(at)()
        self.feed()

    def run(self, plan: Plan, cancel_at: float = float('inf')) -> Outcome:
        runner = PlanRunner(
            self.core, self.lock, plan, self.services, self.approvals, self.events.append,
            self.clock,
        )  # fmt: skip
        return runner.run(self.clock, self.sleep, lambda: self.now >= cancel_at)


def step(skill: Skill, timeout: float = 0.0, **numbers: float) -> Step:
    arguments = tuple(Argument(name, NUMBER, value) for name, value in numbers.items())
    return Step(int(skill), arguments, timeout)


def plan(*steps: Step, tier: Tier = Tier.B, approval: bool = False) -> Plan:
    return Plan('plan-1', 'inc-1', steps, int(tier), approval)


def test_a_plan_runs_step_by_step_with_events() -> None:
    robot = Robot()
    outcome = robot.run(plan(step(Skill.WAIT, seconds=0.2), step(Skill.REVERSE, distance=0.3)))
    assert outcome == Outcome(PlanError.NONE, 'plan completed', 2)
    phases = [(e.index, e.phase) for e in robot.events if e.phase is not StepPhase.RUNNING]
    assert phases == [(0, StepPhase.STARTED), (0, StepPhase.SUCCEEDED),
                      (1, StepPhase.STARTED), (1, StepPhase.SUCCEEDED)]  # fmt: skip
    assert robot.pose.x == pytest.approx(-0.3, abs=0.02)
    assert not robot.core.update(robot.now).stops  # the plan's motion ended with the plan


def test_an_invariant_appearing_during_a_moving_step_stops_the_plan() -> None:
    robot = Robot()
    robot.hooks[T0 + 0.5] = lambda: robot.core.person_in_zone(True, robot.now)
    outcome = robot.run(plan(step(Skill.ROTATE, angle=6.0)))
    assert outcome.error is PlanError.SAFETY_INVARIANT_ACTIVE and outcome.steps_completed == 0
    assert 'person' in outcome.message
    assert robot.core.update(robot.now).command.is_zero


def test_a_non_moving_step_still_runs_under_an_invariant() -> None:
    robot = Robot()
    robot.hooks[T0 + 0.1] = lambda: robot.core.estop(True, robot.now)
    outcome = robot.run(plan(step(Skill.WAIT, seconds=0.5), tier=Tier.A))
    assert outcome.error is PlanError.NONE


def test_a_step_that_takes_too_long_times_out() -> None:
    robot = Robot()
    outcome = robot.run(plan(step(Skill.WAIT, timeout=0.5, seconds=5.0), tier=Tier.A))
    assert outcome.error is PlanError.STEP_TIMEOUT and 'longer than 0.5 s' in outcome.message
    assert robot.events[-1].phase is StepPhase.FAILED


def test_deactivation_during_a_step_ends_the_plan() -> None:
    robot = Robot()
    robot.hooks[T0 + 0.3] = robot.core.deactivate
    outcome = robot.run(plan(step(Skill.ROTATE, angle=3.0)))
    assert outcome.error is PlanError.GATE_NOT_ACTIVE and 'deactivated' in outcome.message


def test_a_stalled_clock_stops_a_moving_step() -> None:
    robot = Robot()

    def stall() -> None:
        robot.core.clock(0.0, robot.now)
        robot.core.clock(10.0, robot.now)  # ten steady seconds, the gate clock did not move

    robot.hooks[T0 + 0.3] = stall
    outcome = robot.run(plan(step(Skill.ROTATE, angle=3.0)))
    assert outcome.error is PlanError.SAFETY_INVARIANT_ACTIVE and 'clock' in outcome.message


def test_cancel_stops_at_once() -> None:
    robot = Robot()
    outcome = robot.run(plan(step(Skill.ROTATE, angle=6.0)), cancel_at=T0 + 0.5)
    assert outcome.error is PlanError.CANCELED
    out = robot.core.update(robot.now)
    assert out.command.is_zero and Cause.PLAN_CANCELED in {s.cause for s in out.stops}


def test_an_approval_is_used_up_by_the_run_that_relies_on_it() -> None:
    robot = Robot()
    target = plan(step(Skill.RESUME_MISSION), tier=Tier.C, approval=True)
    robot.services.answers['resume_mission'] = (True, 'resumed')
    assert robot.run(target).error is PlanError.APPROVAL_REQUIRED
    robot.approvals.learn([target])
    ok, _ = robot.approvals.decide(
        DecisionRequest('alice', target.id, target.digest(), int(Decision.APPROVE)), robot.now
    )
    assert ok
    assert robot.run(target).error is PlanError.NONE
    again = robot.run(target)
    assert again.error is PlanError.APPROVAL_REQUIRED and 'single-use' in again.message


def test_an_error_inside_a_step_latches_a_stop() -> None:
    robot = Robot()

    def broken(event: StepEvent) -> None:
        raise RuntimeError('feedback channel broke')

    runner = PlanRunner(robot.core, robot.lock, plan(step(Skill.WAIT, seconds=1.0)),
                        robot.services, robot.approvals, broken, robot.clock)  # fmt: skip
    outcome = runner.run(robot.clock, robot.sleep, lambda: False)
    assert outcome.error is PlanError.UNKNOWN and 'feedback channel broke' in outcome.message
    assert robot.core.update(robot.now).state is GateState.LATCHED


def test_one_plan_at_a_time_second_goal_refused_with_a_reason() -> None:
    slot = PlanSlot()
    assert slot.reserve('goal-a', 'plan-a') == ''
    refused = slot.reserve('goal-b', 'plan-b')
    assert "plan 'plan-a' is running" in refused and "'plan-b'" in refused
    slot.release('goal-b')  # not the holder: changes nothing
    assert slot.plan_id == 'plan-a'
    slot.release('goal-a')
    assert slot.reserve('goal-b', 'plan-b') == ''


def test_back_to_back_reservations_from_threads_admit_exactly_one() -> None:
    slot = PlanSlot()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def reserve(i: int) -> None:
        barrier.wait()
        results.append(slot.reserve(f'goal-{i}', f'plan-{i}'))

    threads = [threading.Thread(target=reserve, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count('') == 1 and len(results) == 8


# ----- graph guard -------------------------------------------------------------------------------
OWN = ('/robot_1', 'safety_gate')
OUT = '/robot_1/cmd_vel'


def test_the_gates_own_single_publisher_is_fine() -> None:
    assert rogue_publishers({OUT: [OWN]}, OWN, OUT) == ''


def test_an_impostor_with_the_gates_name_is_a_rogue() -> None:
    """Fails before the fix: a node named safety_gate published 1 m/s for 8 s unnoticed."""
    description = rogue_publishers({OUT: [OWN, OWN]}, OWN, OUT)
    assert "second publisher under the gate's own name" in description


@pytest.mark.parametrize(
    ('endpoints', 'words'),
    [([OWN, ('/robot_1', 'teleop')], '/robot_1/teleop on /robot_1/cmd_vel'),
     ([OWN, ('/robot_1', '')], '(node not yet named)'),
     ([('/robot_1', 'teleop')], '/robot_1/teleop')],
)  # fmt: skip
def test_any_other_endpoint_is_a_rogue(endpoints: list[tuple[str, str]], words: str) -> None:
    assert words in rogue_publishers({OUT: endpoints}, OWN, OUT)


def test_on_other_actuator_topics_even_the_gates_name_is_a_rogue() -> None:
    description = rogue_publishers({OUT: [OWN], '/robot_1/lift': [OWN]}, OWN, OUT)
    assert description.endswith('on /robot_1/lift')


# ----- what the log says -------------------------------------------------------------------------
def _output(state: GateState, source: str = '', *stops: Stop) -> GateOutput:
    return GateOutput(ZERO_VELOCITY, state, source, stops, 0.5, 1.0, False, False, True)


ZERO_VELOCITY = Robot().core.update(T0).command
NOT_ACTIVE = Stop(Cause.NOT_ACTIVE, False, 'gate is not active', T0)
HEARTBEAT = Stop(Cause.HEARTBEAT_STALE, False, 'no supervisor heartbeat within 0.50 s', T0)
ESTOP = Stop(Cause.ESTOP, True, 'e-stop engaged', T0)


def test_the_log_tells_one_story_in_order() -> None:
    """Fails before: 'stopped (not_active)' came before 'configured', and 'active: forwarding'
    after 'stopped (heartbeat_stale)'. Now: nothing while inactive, each change once."""
    reporter = StatusReporter()
    lines = []
    for t, output in enumerate([
        _output(GateState.INACTIVE, '', NOT_ACTIVE),
        _output(GateState.STOPPING, '', HEARTBEAT),
        _output(GateState.STOPPING, '', HEARTBEAT),
        _output(GateState.FORWARDING, 'teleop'),
        _output(GateState.LATCHED, '', ESTOP),
        _output(GateState.LATCHED, '', Stop(Cause.ESTOP, True, 'e-stop engaged', T0, False)),
    ]):  # fmt: skip
        report = reporter.report(output, T0 + t)
        lines.append(report.warning or report.info)
    assert lines == [
        '',
        'stopped (heartbeat_stale: no supervisor heartbeat within 0.50 s)',
        '',
        'forwarding teleop',
        'stopped (estop: e-stop engaged [latched])',
        'stopped (estop: e-stop engaged [latched; cause gone, reset needed])',
    ]


def test_status_goes_out_on_change_and_every_period() -> None:
    reporter = StatusReporter(period=1.0)
    idle = _output(GateState.IDLE)
    assert reporter.report(idle, T0).publish
    assert not reporter.report(idle, T0 + 0.5).publish
    assert reporter.report(idle, T0 + 1.0).publish
    assert reporter.report(_output(GateState.FORWARDING, 'nav'), T0 + 1.1).publish
    assert reporter.report(_output(GateState.FORWARDING, 'nav'), T0 + 1.2, force=True).publish
