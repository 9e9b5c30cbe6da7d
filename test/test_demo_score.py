"""The demo's score: rows per incident with their latencies, and the independent invariant check
on the gate's output (motion while an e-stop or a person holds the robot)."""

from __future__ import annotations

import math

from muse_supervisor.demo.score import SAFETY_GRACE, ShiftScore, percentile, table


def test_rows_carry_the_plan_the_decider_the_outcome_and_both_latencies() -> None:
    score = ShiftScore()
    score.incident('robot_1', 'robot_1/0001', 'path_blocked', 'open', 100.0, [])
    score.gate('robot_1', False, '', 100.2)  # not yet safe
    score.proposal('robot_1/0001', 'stop > reroute', 0.93, 100.4)
    score.proposal('robot_1/0001', 'stop > wait', 0.95, 101.0)  # a later one: the first counts
    score.gate('robot_1', False, 'robot_1/0001:SOP-PB-01:0', 100.9)
    score.incident('robot_1', 'robot_1/0001', 'path_blocked', 'resolved', 100.0,
                   [('proposed', 'reasoner', 100.4), ('approved', 'policy', 100.85),
                    ('executing', 'safety_gate', 100.9),
                    ('resolved', 'perception', 110.0)])  # fmt: skip
    score.outcome('robot_1/0001', True, '')
    (row,) = score.rows()
    assert row.to_proposal is not None and abs(row.to_proposal - 0.4) < 1e-9
    assert row.to_safe is not None and abs(row.to_safe - 0.9) < 1e-9
    assert (row.best_plan, row.decided_by, row.outcome, row.state) == (
        'stop > wait', 'policy', 'succeeded', 'resolved')  # fmt: skip
    text = table(score.rows())
    assert '0001' in text and 'path_blocked' in text and '0.40 s' in text and '0.90 s' in text


def test_a_held_robot_is_the_safe_command_for_its_own_person_or_estop_only() -> None:
    score = ShiftScore()
    score.incident('robot_1', 'robot_1/0001', 'person_in_zone', 'open', 10.0, [])
    score.incident('robot_1', 'robot_1/0002', 'camera_fault', 'open', 10.0, [])
    score.incident('robot_2', 'robot_2/0001', 'person_in_zone', 'open', 10.0, [])
    score.gate('robot_1', True, '', 10.1)
    rows = {row.incident_id: row for row in score.rows()}
    assert rows['robot_1/0001'].to_safe is not None
    assert rows['robot_1/0002'].to_safe is None  # a held robot is not a camera's recovery
    assert rows['robot_2/0001'].to_safe is None  # another robot's gate


def test_motion_on_cmd_vel_while_held_past_the_grace_is_a_violation() -> None:
    score = ShiftScore()
    score.command('robot_1', 0.3, 0.0, 1.0)  # free to move: fine
    score.safety_input('robot_1', True, 2.0)
    score.command('robot_1', 0.3, 0.0, 2.0 + SAFETY_GRACE / 2)  # still within the grace
    score.command('robot_1', 0.0, 0.0, 3.0)  # zero while held: what the gate must send
    assert score.violations() == []
    score.command('robot_1', 0.0, 0.2, 3.1)  # turning while held
    score.safety_input('robot_1', False, 4.0)
    score.command('robot_1', 0.3, 0.0, 5.0)  # released: fine again
    (violation,) = score.violations()
    assert violation.startswith('robot_1: cmd_vel (0.00 m/s, 0.20 rad/s)')


def test_approval_to_motion_is_the_first_motion_of_that_incidents_plan() -> None:
    score = ShiftScore()
    score.incident('robot_1', 'robot_1/0001', 'path_blocked', 'open', 10.0, [])
    score.incident('robot_1', 'robot_1/0002', 'low_battery', 'open', 10.0, [])
    score.incident('robot_1', 'robot_1/0002', 'low_battery', 'approved', 10.0,
                   [('approved', 'alice', 20.0)])  # fmt: skip
    score.command('robot_1', 0.3, 0.0, 20.5)  # motion, but no plan of 0002 runs yet
    score.gate('robot_1', False, 'robot_1/0002:SOP-LB-01:0', 21.0)
    score.command('robot_1', 0.0, 0.0, 21.1)  # its first step stops: not motion
    score.command('robot_1', 0.2, 0.0, 21.4)
    score.command('robot_1', 0.4, 0.0, 22.0)  # later motion: the first one counts
    rows = {row.incident_id: row for row in score.rows()}
    assert rows['robot_1/0002'].approval_to_motion is not None
    assert abs(rows['robot_1/0002'].approval_to_motion - 1.4) < 1e-9
    assert rows['robot_1/0001'].approval_to_motion is None  # never approved
    summary = score.summary()
    assert summary['latency_s']['approval_to_motion'] == {'n': 1, 'p50': 1.4, 'p95': 1.4}
    assert summary['latency_s']['incident_to_proposal'] == {'n': 0, 'p50': None, 'p95': None}
    assert [i['id'] for i in summary['incidents']] == ['robot_1/0001', 'robot_1/0002']
    assert 'approval->motion' in table(score.rows()) and '1.40 s' in table(score.rows())


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert abs(percentile([float(i) for i in range(1, 21)], 95) - 19.05) < 1e-9
    assert math.isnan(percentile([], 50))
