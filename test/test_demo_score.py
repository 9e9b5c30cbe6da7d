"""The demo's score: rows per incident with their latencies, and the independent invariant check
on the gate's output (motion while an e-stop or a person holds the robot)."""

from __future__ import annotations

from muse_supervisor.demo.score import SAFETY_GRACE, ShiftScore, table


def test_rows_carry_the_plan_the_decider_the_outcome_and_both_latencies() -> None:
    score = ShiftScore()
    score.incident('robot_1', 'robot_1/0001', 'path_blocked', 'open', 100.0, [])
    score.gate('robot_1', False, '', 100.2)  # not yet safe
    score.proposal('robot_1/0001', 'stop > reroute', 0.93, 100.4)
    score.proposal('robot_1/0001', 'stop > wait', 0.95, 101.0)  # a later one: the first counts
    score.gate('robot_1', False, 'robot_1/0001:SOP-PB-01:0', 100.9)
    score.incident('robot_1', 'robot_1/0001', 'path_blocked', 'resolved', 100.0,
                   [('proposed', 'reasoner'), ('approved', 'policy'), ('executing', 'safety_gate'),
                    ('resolved', 'perception')])  # fmt: skip
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
