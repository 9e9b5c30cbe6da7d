"""The simulated robot of sim_world_node: base, sensors, battery, devices and the timeline."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from muse_supervisor.domain.motion import Pose2D
from muse_supervisor.sim.robot import BaseDynamics, SimulatedRobot
from muse_supervisor.sim.timeline import (
    ACTIONS,
    TimelineError,
    load_timeline,
    timeline_from_dict,
)
from muse_supervisor.sim.world import World, load_world

REPO = Path(__file__).resolve().parents[2]
DT = 0.02


@pytest.fixture(scope='module')
def world() -> World:
    return load_world(REPO / 'config' / 'maps' / 'warehouse_world.yaml')


def _run(robot: SimulatedRobot, seconds: float, linear: float = 0.0, angular: float = 0.0) -> None:
    """Step for ``seconds``, commanding (linear, angular) at every step as the gate does."""
    for _ in range(round(seconds / DT)):
        robot.command(linear, angular, robot.now)
        robot.step(robot.now + DT)


def test_the_base_follows_cmd_vel_within_its_acceleration_limit(world: World) -> None:
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), base=BaseDynamics(max_linear_accel=1.0))
    _run(robot, 0.2, linear=0.5)
    assert robot.pose.linear == pytest.approx(0.2, abs=1e-9)  # 1 m/s^2 for 0.2 s
    _run(robot, 1.8, linear=0.5)
    assert robot.pose.linear == pytest.approx(0.5)
    # 0.125 m while accelerating to 0.5 m/s, then 1.5 s at 0.5 m/s.
    assert robot.pose.x == pytest.approx(0.125 + 0.75, abs=0.02)
    assert robot.pose.y == pytest.approx(0.0, abs=1e-9)


def test_turning_integrates_the_heading(world: World) -> None:
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), base=BaseDynamics(max_angular_accel=50))
    _run(robot, 1.0, angular=math.pi / 2)
    assert robot.pose.yaw == pytest.approx(math.pi / 2, abs=0.05)
    assert math.hypot(robot.pose.x, robot.pose.y) < 1e-9


def test_the_base_stops_when_commands_stop_coming(world: World) -> None:
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), base=BaseDynamics(command_timeout=0.5))
    _run(robot, 1.0, linear=0.4)
    for _ in range(round(0.4 / DT)):  # commands stop, within the timeout: keeps going
        robot.step(robot.now + DT)
    assert robot.pose.linear == pytest.approx(0.4)
    for _ in range(round(1.0 / DT)):
        robot.step(robot.now + DT)
    assert robot.pose.linear == 0.0


def test_non_finite_commands_are_ignored(world: World) -> None:
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0))
    robot.command(math.nan, 0.0, 0.0)
    robot.command(0.3, math.inf, 0.0)
    robot.step(DT)
    assert (robot.pose.linear, robot.pose.angular) == (0.0, 0.0)


def test_the_estop_cuts_the_drives_at_once(world: World) -> None:
    timeline = timeline_from_dict({'events': [{'at': 1.01, 'estop': True}]})
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    _run(robot, 1.0, linear=0.4)
    assert robot.pose.linear == pytest.approx(0.4) and not robot.estop_engaged
    _run(robot, DT, linear=0.4)  # the step in which it is pressed ends at rest
    assert robot.estop_engaged and robot.pose.linear == 0.0
    x = robot.pose.x
    _run(robot, 1.0, linear=0.4)
    assert robot.pose.x == x


def test_the_range_sensor_sees_the_wall_and_a_fallen_pallet(world: World) -> None:
    # At the charger, looking down the central aisle to the far wall (x = 7.9 m): out of range.
    timeline = timeline_from_dict(
        {
            'events': [
                {'at': 1.0, 'obstacle': {'name': 'pallet', 'x': 2.0, 'y': 0.0, 'radius': 0.4}}
            ]
        }
    )
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    assert robot.range_ahead() == math.inf  # REP 117: nothing within max range
    _run(robot, 1.0)
    # Robot front at 0.3 m, pallet face at 1.6 m.
    assert robot.range_ahead() == pytest.approx(1.3, abs=0.01)
    facing_wall = SimulatedRobot(world, Pose2D(0.0, 0.0, math.pi))  # the wall at x = -1.9
    assert facing_wall.range_ahead() == pytest.approx(1.9 - 0.3, abs=0.06)


def test_driving_into_a_pallet_stops_the_base_and_reports_it(world: World) -> None:
    timeline = timeline_from_dict(
        {'events': [{'at': 0, 'obstacle': {'name': 'pallet', 'x': 1.2, 'y': 0.0, 'radius': 0.4}}]}
    )
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    _run(robot, 5.0, linear=0.5)
    assert 'collision with pallet' in robot.collision
    assert robot.pose.x < 1.2 - 0.4 - 0.3 + 0.02  # never inside the pallet
    drives = next(r for r in robot.diagnostics() if r.name == 'motor drivers')
    assert drives.level == 2 and 'pallet' in drives.message
    x = robot.pose.x
    _run(robot, 1.0, linear=0.3, angular=0.5)  # forward and turning stay blocked
    assert robot.pose.x == x and robot.collision
    _run(robot, 1.0, linear=-0.2)  # backing away is allowed, and frees the bumper
    assert robot.pose.x < x - 0.1 and not robot.collision
    assert next(r for r in robot.diagnostics() if r.name == 'motor drivers').level == 0


def test_people_in_the_protective_field_and_out_of_it(world: World) -> None:
    timeline = timeline_from_dict(
        {
            'events': [
                {'at': 1, 'person': {'name': 'picker', 'x': 1.0, 'y': 0.0, 'radius': 0.8}},
                {'at': 2, 'remove': 'picker'},
            ]
        }
    )
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    assert not robot.person_in_zone()
    _run(robot, 1.0)
    assert robot.person_in_zone()
    _run(robot, 1.0)
    assert not robot.person_in_zone() and robot.scene().people == ()


def test_the_battery_drains_while_driving_and_charges_on_the_charger(world: World) -> None:
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), battery=0.5)  # on charger_1
    _run(robot, 10.0)
    reading = robot.battery_reading()
    assert reading.charging and reading.current > 0 and robot.battery > 0.5
    away = SimulatedRobot(world, Pose2D(0.0, 2.0, 0.0), battery=0.5)
    _run(away, 10.0, linear=0.3)
    reading = away.battery_reading()
    assert not reading.charging and reading.current < 0 and away.battery < 0.5
    # 20 W idle + 120 W/(m/s) x 0.3 m/s for about 10 s, of a 200 Wh pack.
    assert 0.5 - away.battery == pytest.approx(56 * 10 / 3600 / 200, rel=0.1)
    low, high = SimulatedRobot.NOMINAL_VOLTAGE
    assert reading.voltage == pytest.approx(low + (high - low) * away.battery)


def test_battery_diagnostics_follow_the_state_of_charge(world: World) -> None:
    timeline = timeline_from_dict(
        {
            'events': [
                {'at': 1, 'battery': {'percentage': 0.15}},
                {'at': 2, 'battery': {'percentage': 0.05}},
            ]
        }
    )
    robot = SimulatedRobot(world, Pose2D(0.0, 2.0, 0.0), timeline)
    levels = []
    for _ in range(3):
        levels.append(next(r.level for r in robot.diagnostics() if r.name == 'battery'))
        _run(robot, 1.0)
    assert levels == [0, 1, 2]


def test_timeline_alarms_are_taken_once_and_reset_fault_clears_them(world: World) -> None:
    timeline = timeline_from_dict(
        {
            'events': [
                {
                    'at': 1,
                    'alarm': {
                        'source': 'drive_left', 'code': 'OVERCURRENT', 'severity': 'error',
                        'text': 'Motor 2 current 11.8 A', 'values': {'current_a': 11.8},
                    },
                },
                {
                    'at': 1,
                    'diagnostic': {
                        'name': 'drive_left', 'level': 'error', 'message': 'overcurrent',
                    },
                },
            ]
        }
    )  # fmt: skip
    robot = SimulatedRobot(world, Pose2D(0.0, 2.0, 0.0), timeline)
    assert robot.take_alarms() == []
    _run(robot, 1.0)
    raised = robot.take_alarms()
    assert [(a.code, a.severity, a.active, a.values) for a in raised] == [
        ('OVERCURRENT', 2, True, (('current_a', '11.8'),))
    ]
    assert raised[0].stamp == pytest.approx(1.0)
    assert robot.take_alarms() == []
    ok, message = robot.trigger('reset_fault/drive_left')
    assert ok, message
    cleared = robot.take_alarms()
    assert [(a.code, a.active) for a in cleared] == [('OVERCURRENT', False)]
    assert next(r for r in robot.diagnostics() if r.name == 'drive_left').level == 0
    assert robot.trigger('reset_fault/lidar_front') == (
        False, "no device 'lidar_front' has a fault to reset"
    )  # fmt: skip


def test_mission_services_answer_as_the_executive_would(world: World) -> None:
    timeline = timeline_from_dict(
        {
            'events': [
                {
                    'at': 0,
                    'mission': {'mission_id': 'pick_1', 'status': 'paused', 'step_id': 'goto'},
                }
            ]
        }
    )
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    assert robot.mission.status == 2  # paused
    assert robot.trigger('resume_mission') == (True, 'mission pick_1 resumed')
    assert robot.mission.status == 1
    assert robot.trigger('resume_mission') == (False, 'mission is running, not paused')
    _run(robot, 1.0)
    assert robot.trigger('retry_step') == (True, 'step goto restarted')
    assert robot.mission.step_started == pytest.approx(1.0)
    assert robot.trigger('dance')[0] is False


def test_events_happen_at_their_time_and_in_file_order(world: World) -> None:
    timeline = timeline_from_dict(
        {
            'events': [
                {'at': 2.0, 'estop': False},
                {'at': 1.0, 'estop': True},
                {'at': 2.0, 'estop': True},  # same time: the file's order, so pressed wins
            ]
        }
    )
    assert [e.at for e in timeline.events] == [1.0, 2.0, 2.0]
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    _run(robot, 0.98)
    assert not robot.estop_engaged
    _run(robot, 0.04)
    assert robot.estop_engaged
    _run(robot, 1.0)
    assert robot.estop_engaged


def test_the_shipped_scenario_reads_and_uses_every_kind_of_action() -> None:
    timeline = load_timeline(REPO / 'config' / 'scenarios' / 'pallet_in_aisle.yaml')
    used = {event.action for event in timeline.events}
    assert used >= set(ACTIONS) - {'spill', 'estop', 'camera_covered'}


@pytest.mark.parametrize(
    ('events', 'message'),
    [
        ([{'at': 1}], 'expected exactly one action of'),
        ([{'at': 1, 'obstcle': {}}], "got ['obstcle']"),
        ([{'at': -1, 'estop': True}], 'at must be >= 0 s'),
        ([{'at': 'soon', 'estop': True}], "at: expected a finite number, got 'soon'"),
        ([{'at': 1, 'estop': 'yes'}], 'expected true or false'),
        ([{'at': 1, 'camera_covered': 1}], 'expected true or false'),
        ([{'at': 1, 'obstacle': {'name': 'p', 'x': 0, 'y': 0}}], "missing ['radius']"),
        (
            [{'at': 1, 'obstacle': {'name': 'p', 'x': 0, 'y': 0, 'radius': 0}}],
            'radius must be > 0',
        ),
        ([{'at': 1, 'battery': {'percentage': 1.5}}], 'percentage must be in [0, 1]'),
        (
            [{'at': 1, 'alarm': {'source': 'a', 'code': 'b', 'severity': 'bad', 'text': ''}}],
            "severity: 'bad' is not one of ['info', 'warning', 'error', 'critical']",
        ),
        (
            [{'at': 1, 'diagnostic': {'name': 'a', 'level': 'ERROR', 'message': ''}}],
            "level: 'ERROR' is not one of ['ok', 'warn', 'error', 'stale']",
        ),
        ([{'at': 1, 'mission': {'status': 'going'}}], "status: 'going' is not one of"),
        ([{'at': 1, 'mission': {'step_index': -1}}], 'step_index must be a whole number >= 0'),
    ],
)
def test_a_bad_timeline_is_refused_saying_where_and_what_was_expected(
    events: list[object], message: str
) -> None:
    with pytest.raises(TimelineError) as refused:
        timeline_from_dict({'events': events}, 'scenario.yaml')
    assert message in str(refused.value)
    assert str(refused.value).startswith('scenario.yaml: event 0')


def test_an_unreadable_timeline_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TimelineError, match='cannot read the timeline'):
        load_timeline(tmp_path / 'missing.yaml')
    broken = tmp_path / 'broken.yaml'
    broken.write_text('events: [')
    with pytest.raises(TimelineError, match='not valid YAML'):
        load_timeline(broken)
    with pytest.raises(TimelineError, match='with an "events" list'):
        timeline_from_dict([1, 2], 'x.yaml')


def test_a_covered_camera_shows_what_perception_calls_dark(world: World) -> None:
    from muse_supervisor.perception.vision.frames import Frame
    from muse_supervisor.perception.vision.health import DARK, ImageHealthAnalyzer
    from muse_supervisor.sim.camera import CameraModel, covered

    timeline = timeline_from_dict({'events': [{'at': 1.0, 'camera_covered': True},
                                              {'at': 2.0, 'camera_covered': False}]})  # fmt: skip
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline)
    _run(robot, 1.5)
    assert robot.camera_covered
    _run(robot, 1.0)
    assert not robot.camera_covered
    pixels = covered(CameraModel(width=160, height=120), np.random.default_rng(1))
    frame = Frame(np.ascontiguousarray(pixels[:, :, ::-1]), 1.0, topic='camera/image_raw',
                  sequence=1, encoding='bgr8')  # fmt: skip
    signals = {o.signal for o in ImageHealthAnalyzer().analyze(frame) if o.active}
    assert DARK in signals, signals


def test_a_held_timeline_starts_on_cue_and_counts_from_there(world: World) -> None:
    timeline = timeline_from_dict({'events': [{'at': 0.0, 'estop': True}]})
    robot = SimulatedRobot(world, Pose2D(0.0, 0.0, 0.0), timeline, hold_timeline=True)
    _run(robot, 2.0)
    assert not robot.estop_engaged  # held: nothing happened
    assert robot.start_timeline(robot.now)
    assert not robot.start_timeline(robot.now)  # once
    _run(robot, 2 * DT)
    assert robot.estop_engaged  # the event at 0 s, counted from the cue
