"""The HMI's fleet view: what the page is shown per robot, how stale it is, what changed."""

from __future__ import annotations

from typing import Any

import pytest

from muse_supervisor.hmi.fleet import _MAX_NOTICES, _MAX_PROPOSALS, FleetView, Frame

DIGEST = 'ab' * 32


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def proposal(incident_id: str, *plan_ids: str) -> dict[str, Any]:
    return {
        'incident_id': incident_id,
        'plans': [{'id': plan_id, 'digest': DIGEST, 'steps': []} for plan_id in plan_ids],
    }


def robot(snapshot: dict[str, Any], robot_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in snapshot['robots'] if r['id'] == robot_id]
    assert len(found) == 1
    return found[0]


def test_a_fleet_needs_a_robot() -> None:
    with pytest.raises(ValueError, match='at least one robot'):
        FleetView([], clock=Clock())


def test_the_snapshot_shape_before_any_data() -> None:
    fleet = FleetView(['r2', 'r1'], clock=Clock(), stale_after=3.0)
    assert fleet.robots == ['r2', 'r1']
    assert fleet.knows('r1')
    assert not fleet.knows('r3')
    snapshot = fleet.snapshot()
    assert snapshot == {
        'version': 0,
        'stale_after_s': 3.0,
        'robots': [
            {'id': robot_id, 'stale': True, 'last_data_age_s': None, 'incidents': [],
             'proposals': [], 'gate': None, 'pose': None, 'notices': [], 'frame': None}
            for robot_id in ['r2', 'r1']
        ],
    }  # fmt: skip


def test_the_snapshot_shows_what_was_set() -> None:
    clock = Clock()
    fleet = FleetView(['r1', 'r2'], clock=clock)
    incidents = [{'id': 'inc-1', 'kind': 'blocked_aisle'}]
    fleet.set_incidents('r1', incidents)
    fleet.set_proposal('r1', proposal('inc-1', 'p1', 'p2'))
    fleet.set_gate('r1', {'state': 'holding'})
    fleet.set_pose('r1', {'x': 1.0, 'y': 2.0, 'yaw': 0.5})
    fleet.add_notice('r1', {'text': 'call an operator'})
    fleet.set_frame('r1', Frame(b'\xff\xd8jpeg', 999.5, 640, 480))
    fleet.set_frame('r1', Frame(b'\xff\xd8jpeg2', 999.75, 320, 240))
    shown = robot(fleet.snapshot(), 'r1')
    assert shown['incidents'] == incidents
    assert shown['proposals'] == [proposal('inc-1', 'p1', 'p2')]
    assert shown['gate'] == {'state': 'holding'}
    assert shown['pose'] == {'x': 1.0, 'y': 2.0, 'yaw': 0.5}
    assert shown['notices'] == [{'text': 'call an operator'}]
    # The frame's bytes are fetched apart: the snapshot only says which frame there is.
    assert shown['frame'] == {'version': 2, 'stamp': 999.75, 'width': 320, 'height': 240}
    frame = fleet.frame('r1')
    assert frame is not None
    assert frame.jpeg == b'\xff\xd8jpeg2'
    assert fleet.frame('r2') is None
    assert fleet.frame('r9') is None
    other = robot(fleet.snapshot(), 'r2')
    assert (other['incidents'], other['gate'], other['stale']) == ([], None, True)


def test_staleness_follows_the_last_data() -> None:
    clock = Clock()
    fleet = FleetView(['r1', 'r2'], clock=clock, stale_after=5.0)
    shown = robot(fleet.snapshot(), 'r1')
    assert shown['stale'] is True
    assert shown['last_data_age_s'] is None
    fleet.set_gate('r1', {'state': 'ok'})
    clock.now += 2.0
    shown = robot(fleet.snapshot(), 'r1')
    assert shown['stale'] is False
    assert shown['last_data_age_s'] == pytest.approx(2.0)
    clock.now += 3.0  # exactly stale_after: not yet stale
    assert robot(fleet.snapshot(), 'r1')['stale'] is False
    clock.now += 0.5
    shown = robot(fleet.snapshot(), 'r1')
    assert shown['stale'] is True
    assert shown['last_data_age_s'] == pytest.approx(5.5)
    # The last good data is still shown, marked stale.
    assert shown['gate'] == {'state': 'ok'}
    # One robot's data does not refresh another's.
    assert robot(fleet.snapshot(), 'r2')['last_data_age_s'] is None
    # Any data, a pose too, makes it fresh again.
    fleet.set_pose('r1', {'x': 0.0, 'y': 0.0, 'yaw': 0.0})
    shown = robot(fleet.snapshot(), 'r1')
    assert shown['stale'] is False
    assert shown['last_data_age_s'] == pytest.approx(0.0)


def test_the_version_grows_on_each_change() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    versions = [fleet.version()]
    changes = [
        lambda: fleet.set_incidents('r1', [{'id': 'inc-1'}]),
        lambda: fleet.set_proposal('r1', proposal('inc-1', 'p1')),
        lambda: fleet.set_gate('r1', {'state': 'ok'}),
        lambda: fleet.set_pose('r1', {'x': 1.0, 'y': 0.0, 'yaw': 0.0}),
        lambda: fleet.add_notice('r1', {'text': 'n'}),
        lambda: fleet.set_frame('r1', Frame(b'j', 1.0, 1, 1)),
        lambda: fleet.set_gate('r1', {'state': 'ok'}),  # the same data again is a change too
    ]
    for change in changes:
        change()
        versions.append(fleet.version())
        assert fleet.snapshot()['version'] == versions[-1]
    assert versions == sorted(set(versions))
    assert len(versions) == len(changes) + 1


def test_data_for_an_unknown_robot_is_ignored() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    fleet.set_gate('r9', {'state': 'ok'})
    fleet.set_proposal('r9', proposal('inc-1', 'p1'))
    assert fleet.version() == 0
    assert [r['id'] for r in fleet.snapshot()['robots']] == ['r1']
    assert fleet.plan('r9', 'p1') is None
    assert fleet.report_data('r9', 'inc-1') is None


def test_plan_finds_a_plan_by_id_on_its_robot() -> None:
    fleet = FleetView(['r1', 'r2'], clock=Clock())
    first, second = proposal('inc-1', 'p1', 'p2'), proposal('inc-2', 'q1')
    fleet.set_proposal('r1', first)
    fleet.set_proposal('r1', second)
    assert fleet.plan('r1', 'p2') == (first, first['plans'][1])
    assert fleet.plan('r1', 'q1') == (second, second['plans'][0])
    assert fleet.plan('r1', 'p3') is None
    assert fleet.plan('r2', 'p1') is None


def test_a_newer_proposal_replaces_the_last_for_its_incident() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    fleet.set_proposal('r1', proposal('inc-1', 'p1'))
    newer = proposal('inc-1', 'p7')
    fleet.set_proposal('r1', newer)
    assert fleet.plan('r1', 'p1') is None
    assert fleet.plan('r1', 'p7') == (newer, newer['plans'][0])
    assert robot(fleet.snapshot(), 'r1')['proposals'] == [newer]


def test_a_report_finds_a_listed_incident_or_one_seen_closing() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    fleet.set_incidents('r1', [{'id': 'inc-1', 'kind': 'a'}, {'id': 'inc-2', 'kind': 'b'}])
    second = proposal('inc-2', 'q1')
    fleet.set_proposal('r1', second)
    data = fleet.report_data('r1', 'inc-2')
    assert data is not None and data['incident'] == {'id': 'inc-2', 'kind': 'b'}
    assert data['proposals'] == [second] and data['outcomes'] == []
    fleet.set_incidents('r1', [{'id': 'inc-1', 'kind': 'a'}])
    assert fleet.report_data('r1', 'inc-2') is None  # left the list, never seen closing
    fleet.note_incident('r1', {'id': 'inc-2', 'kind': 'b', 'state': 'resolved'})
    fleet.add_outcome('r1', {'incident_id': 'inc-2', 'error_code': 0})
    data = fleet.report_data('r1', 'inc-2')
    assert data is not None and data['incident']['state'] == 'resolved'
    assert data['outcomes'] == [{'incident_id': 'inc-2', 'error_code': 0}]


def test_proposals_of_open_incidents_stay_and_of_closed_ones_are_bounded() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    total = _MAX_PROPOSALS + 15
    for index in range(total):
        fleet.set_proposal('r1', proposal(f'inc-{index}', f'p{index}'))
    # Only the first three are still open: of the closed ones the newest stay, to the bound.
    fleet.set_incidents('r1', [{'id': f'inc-{index}'} for index in range(3)])
    kept = [p['incident_id'] for p in robot(fleet.snapshot(), 'r1')['proposals']]
    assert len(kept) == _MAX_PROPOSALS
    assert kept[:3] == ['inc-0', 'inc-1', 'inc-2']
    assert kept[3:] == [f'inc-{index}' for index in range(total - _MAX_PROPOSALS + 3, total)]
    assert fleet.plan('r1', 'p3') is None
    assert fleet.plan('r1', f'p{total - 1}') is not None
    # All incidents closed: still bounded, the newest kept.
    fleet.set_incidents('r1', [])
    kept = [p['incident_id'] for p in robot(fleet.snapshot(), 'r1')['proposals']]
    assert len(kept) == _MAX_PROPOSALS
    assert kept[-1] == f'inc-{total - 1}'


def test_open_incidents_keep_their_proposals_beyond_the_bound() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    total = _MAX_PROPOSALS + 5
    for index in range(total):
        fleet.set_proposal('r1', proposal(f'inc-{index}', f'p{index}'))
    fleet.set_incidents('r1', [{'id': f'inc-{index}'} for index in range(total)])
    assert len(robot(fleet.snapshot(), 'r1')['proposals']) == total


def test_notices_are_bounded_newest_kept() -> None:
    fleet = FleetView(['r1'], clock=Clock())
    for index in range(_MAX_NOTICES + 7):
        fleet.add_notice('r1', {'n': index})
    notices = robot(fleet.snapshot(), 'r1')['notices']
    assert [n['n'] for n in notices] == list(range(7, _MAX_NOTICES + 7))
