"""Plans rolled forward through the gate's own core on the shipped warehouse.

The prediction is what execution would do: refusals carry the validator's own message, motion
obeys the gate's limits and invariants, and the simulated world decides the rest.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from muse_supervisor.domain import ArgumentType, Pose2D, Skill, Tier
from muse_supervisor.domain.plans import Argument, Plan, PoseTarget, Step
from muse_supervisor.safety.config import GateConfig, gate_config_from_file
from muse_supervisor.safety.plans import PlanError, validate_plan
from muse_supervisor.sim.physics import Circle
from muse_supervisor.sim.rollout import Nav2Presence, Situation, Verdict, rank, simulate
from muse_supervisor.sim.world import load_world

REPO = Path(__file__).resolve().parents[2]
WORLD = load_world(REPO / 'config' / 'maps' / 'warehouse_world.yaml')
# The shipped gate configuration (its waypoints are the world's places), driving through Nav2.
SHIPPED = gate_config_from_file(str(REPO / 'config' / 'safety_gate.yaml'), '/safety_gate')


def gate(**limits: object) -> GateConfig:
    """The shipped configuration with some limits changed."""
    return replace(SHIPPED, limits=replace(SHIPPED.limits, **limits))


CONFIG = gate(navigation_backend='nav2')
HOME = Situation(Pose2D(0.0, 0.0, 0.0))
TEXT, NUMBER, POSE = int(ArgumentType.TEXT), int(ArgumentType.NUMBER), int(ArgumentType.POSE)


def step(skill: Skill, **args: object) -> Step:
    arguments = []
    for name, value in args.items():
        if isinstance(value, str):
            arguments.append(Argument(name, TEXT, text=value))
        elif isinstance(value, tuple):
            arguments.append(Argument(name, POSE, pose=PoseTarget('map', *value)))
        else:
            arguments.append(Argument(name, NUMBER, number=float(value)))  # type: ignore[arg-type]
    return Step(int(skill), tuple(arguments))


def plan(plan_id: str, *steps: Step, tier: Tier = Tier.B) -> Plan:
    return Plan(plan_id, 'inc-1', steps, int(tier), tier is Tier.C)


def test_navigating_down_an_aisle_succeeds_on_a_clear_path() -> None:
    prediction = simulate(
        plan('go', step(Skill.NAVIGATE_TO, target='aisle_2_end')), WORLD, CONFIG, HOME
    )
    assert prediction.verdict is Verdict.SUCCESS and prediction.feasible, prediction.explanation
    end = prediction.path[-1]
    assert math.dist((end.x, end.y), (6.5, -2.2)) <= CONFIG.limits.goal_tolerance + 0.05
    assert 6.5 < prediction.distance < 9.0 and 0.0 < prediction.min_clearance < 1.0
    assert prediction.energy_wh > 0 and prediction.duration > prediction.distance / 0.5
    assert all(abs(p.linear) <= CONFIG.limits.max_linear_speed + 1e-9 for p in prediction.path)


def test_a_plan_the_gate_refuses_is_invalid_with_the_gates_own_message() -> None:
    refused = plan('far', step(Skill.REVERSE, distance=1.8))  # beyond max_reverse_distance 1.0
    prediction = simulate(refused, WORLD, CONFIG, HOME)
    verdict = validate_plan(refused, CONFIG, {}, '')
    assert verdict.error is PlanError.ARGUMENT_OUT_OF_RANGE
    assert prediction.verdict is Verdict.INVALID and prediction.gate_message == verdict.message
    assert prediction.duration == 0.0 and not prediction.feasible


def test_motion_under_an_estop_is_unsafe_for_the_gates_reason() -> None:
    moving = plan('move', step(Skill.NAVIGATE_TO, target='staging'))
    prediction = simulate(moving, WORLD, CONFIG, Situation(Pose2D(0, 0, 0), estop_engaged=True))
    assert prediction.verdict is Verdict.UNSAFE
    assert prediction.gate_error is PlanError.SAFETY_INVARIANT_ACTIVE
    assert 'e-stop engaged' in prediction.gate_message
    waiting = simulate(plan('wait', step(Skill.WAIT, seconds=1.0), tier=Tier.A), WORLD, CONFIG,
                       Situation(Pose2D(0, 0, 0), estop_engaged=True))  # fmt: skip
    assert waiting.verdict is Verdict.SUCCESS  # not moving: allowed under the e-stop


def test_reversing_into_a_wall_is_a_collision_and_in_the_open_it_is_fine() -> None:
    backing = plan('back', step(Skill.REVERSE, distance=1.0))
    near_wall = simulate(backing, WORLD, CONFIG, Situation(Pose2D(-1.4, 0.0, 0.0)))
    assert near_wall.verdict is Verdict.UNSAFE and 'collision' in near_wall.explanation
    open_floor = simulate(backing, WORLD, CONFIG, Situation(Pose2D(0.5, 0.0, 0.0)))
    assert open_floor.verdict is Verdict.SUCCESS
    assert open_floor.path[-1].x == pytest.approx(-0.5, abs=0.05)


def test_driving_into_a_persons_protective_zone_is_unsafe() -> None:
    worker = Circle('worker', -0.8, 0.0, 0.3)
    backing = plan('back', step(Skill.REVERSE, distance=1.0))
    prediction = simulate(
        backing, WORLD, CONFIG, Situation(Pose2D(0.5, 0.0, 0.0), people=(worker,))
    )
    assert prediction.verdict is Verdict.UNSAFE
    assert 'person inside the protective zone' in prediction.gate_message


def test_navigation_goes_around_an_obstacle_in_the_aisle() -> None:
    pallet = Circle('pallet', 4.5, -2.2, 0.4)
    go = plan('go', step(Skill.NAVIGATE_TO, target='aisle_2_end'))
    clear = simulate(go, WORLD, CONFIG, HOME)
    around = simulate(go, WORLD, CONFIG, Situation(Pose2D(0, 0, 0), obstacles=(pallet,)))
    assert around.verdict is Verdict.SUCCESS
    assert around.distance > clear.distance + 1.0  # the long way, past the shelf ends
    assert all(math.dist((p.x, p.y), (4.5, -2.2)) > 0.4 + 0.3 for p in around.path)


def test_docking_at_a_blocked_dock_does_not_come_first() -> None:
    blocked = Situation(Pose2D(0.8, 0.5, 0.0), obstacles=(Circle('cart', 0.0, -1.0, 0.3),))
    dock = plan('dock', step(Skill.DOCK, station='dock_1'))
    charge = plan('charge', step(Skill.NAVIGATE_TO, target='charger_1'))
    predictions = [simulate(p, WORLD, CONFIG, blocked, horizon=40.0) for p in (dock, charge)]
    assert predictions[0].verdict is not Verdict.SUCCESS, predictions[0].explanation
    assert predictions[1].verdict is Verdict.SUCCESS, predictions[1].explanation
    assert [p.plan_id for p in rank(predictions)] == ['charge', 'dock']


def test_reroute_makes_navigation_avoid_the_area() -> None:
    detour = plan(
        'detour',
        step(Skill.REROUTE, avoid=(4.5, -2.2, 0.0), radius=0.6),
        step(Skill.NAVIGATE_TO, target='aisle_2_end'),
    )
    prediction = simulate(detour, WORLD, CONFIG, HOME)
    assert prediction.verdict is Verdict.SUCCESS, prediction.explanation
    assert all(not (3.9 <= p.x <= 5.1 and -2.8 <= p.y <= -1.6) for p in prediction.path), (
        'drove through the avoided area'
    )


def test_a_plan_that_runs_past_the_horizon_fails() -> None:
    long_wait = plan('wait', step(Skill.WAIT, seconds=100.0), tier=Tier.A)
    prediction = simulate(long_wait, WORLD, CONFIG, HOME, horizon=5.0)
    assert (
        prediction.verdict is Verdict.FAILURE
        and 'not finished within 5 s' in prediction.explanation
    )


def test_tier_c_is_simulated_as_if_approved_and_carries_more_risk() -> None:
    resume = plan('resume', step(Skill.RESUME_MISSION), tier=Tier.C)
    prediction = simulate(resume, WORLD, CONFIG, HOME)
    assert prediction.verdict is Verdict.SUCCESS and prediction.risk >= 0.3


def test_an_incident_goal_that_is_not_reached_is_a_failure() -> None:
    low_battery = Situation(Pose2D(0.0, 3.0, 0.0), resolved_at=(0.0, 0.0, 0.2))
    stay = simulate(
        plan('stay', step(Skill.WAIT, seconds=1.0), tier=Tier.A), WORLD, CONFIG, low_battery
    )
    assert stay.verdict is Verdict.FAILURE and not stay.resolves
    charge = simulate(plan('charge', step(Skill.NAVIGATE_TO, target='charger_1')), WORLD, CONFIG,
                      low_battery)  # fmt: skip
    assert charge.verdict is Verdict.SUCCESS and charge.resolves


def test_a_slow_zone_slows_the_robot_down() -> None:
    """The warehouse's crossing (x 1..2, y -1..1) caps speed at 0.2 m/s, as Nav2's filter does."""
    across = plan('across', step(Skill.NAVIGATE_TO, target=(3.5, 0.0, 0.0)))
    prediction = simulate(across, WORLD, CONFIG, Situation(Pose2D(0.3, 0.0, 0.0)))
    assert prediction.verdict is Verdict.SUCCESS, prediction.explanation
    inside = [p.linear for p in prediction.path if 1.1 <= p.x <= 1.9]
    outside = [p.linear for p in prediction.path if p.x >= 2.3]
    assert inside and max(inside) <= 0.2 + 1e-9
    assert max(outside) > 0.3


def test_a_battery_that_runs_out_on_the_way_fails_the_plan() -> None:
    far = plan('far', step(Skill.NAVIGATE_TO, target='aisle_2_end'))
    full = simulate(far, WORLD, CONFIG, HOME)
    almost_empty = Situation(Pose2D(0.0, 0.0, 0.0), battery=full.energy_wh / 2 / 200.0)
    prediction = simulate(far, WORLD, CONFIG, almost_empty)
    assert prediction.verdict is Verdict.FAILURE and 'battery empty' in prediction.explanation
    assert prediction.distance < full.distance


def test_without_nav2_the_built_in_controller_drives_as_the_gate_would() -> None:
    """The gate with ``navigation_backend: auto`` uses Nav2 only when there is one to answer."""
    auto = gate(navigation_backend='auto')
    around_a_shelf = plan('aisle', step(Skill.NAVIGATE_TO, target='aisle_1_end'))
    with_nav2 = simulate(around_a_shelf, WORLD, auto, HOME)
    assert with_nav2.verdict is Verdict.SUCCESS, with_nav2.explanation
    # The built-in controller turns toward the goal and drives straight, toward the shelf row
    # between. The one forward range reading sees the shelf only once it is dead ahead, so the
    # footprint clips the shelf's corner first: a robot without Nav2 would do the same, so the
    # plan is predicted unsafe and ranks last.
    no_nav2 = replace(HOME, nav2=Nav2Presence.NOT_INSTALLED)
    straight = simulate(around_a_shelf, WORLD, auto, no_nav2)
    assert straight.verdict is Verdict.UNSAFE, straight.explanation
    assert straight.gate_message.startswith('collision with the map')
    assert rank([straight, with_nav2])[0] is with_nav2


def test_a_nav2_that_does_not_answer_costs_the_servers_timeout_before_the_fallback() -> None:
    auto = gate(navigation_backend='auto', nav2_server_timeout=1.0)
    north = plan('north', step(Skill.NAVIGATE_TO, target='staging'))  # (0, 3): straight line
    absent = simulate(north, WORLD, auto, replace(HOME, nav2=Nav2Presence.NOT_INSTALLED))
    silent = simulate(north, WORLD, auto, replace(HOME, nav2=Nav2Presence.NOT_ANSWERING))
    assert absent.verdict is silent.verdict is Verdict.SUCCESS
    assert silent.duration - absent.duration == pytest.approx(1.0, abs=0.1)
    strict = gate(navigation_backend='nav2', nav2_server_timeout=1.0)
    failed = simulate(north, WORLD, strict, replace(HOME, nav2=Nav2Presence.NOT_ANSWERING))
    assert failed.verdict is Verdict.FAILURE
    assert 'did not answer within' in failed.gate_message
