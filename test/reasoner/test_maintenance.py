"""The maintenance log behind the reasoner's ``maintenance_log`` tool: CSV import, queries,
persistence and the operator summary, on real SQLite files."""

from __future__ import annotations

import csv
import json
import sqlite3
import threading
from datetime import date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.reasoner.maintenance import (
    MAX_LIMIT,
    SCHEMA_VERSION,
    MaintenanceError,
    MaintenanceLog,
    MaintenanceRecord,
    open_maintenance_log,
    summary,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / 'config' / 'maintenance' / 'history.csv'
TODAY = date(2026, 12, 1)
HEADER = 'robot_id,device,date,fault,action,technician,notes\n'


def _today() -> date:
    return TODAY


def _log(path: Path | str = ':memory:') -> MaintenanceLog:
    return MaintenanceLog(path, today=_today)


def _csv(tmp_path: Path, body: str, header: str = HEADER, name: str = 'history.csv') -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding='utf-8')
    return path


def _record(
    device: str = 'drive_left', day: date = date(2026, 1, 5), **fields: str
) -> MaintenanceRecord:
    values = {'robot_id': 'robot_1', 'fault': 'over-current at start-up', 'action': 'new fuse'}
    values.update(fields)
    return MaintenanceRecord(device=device, date=day, **values)


SMALL = (
    'robot_1,drive_left,2026-01-10,over-current at start-up,replaced fuse F2,J. Ortiz,\n'
    'robot_1,drive_right,2026-03-02,encoder cable chafed,new encoder cable,M. Haddad,\n'
    'robot_2,drive_left,2026-02-14,Over-Current while docking,replaced fuse F2,,\n'
    'robot_2,driver_board,2026-04-01,over-current at start-up,reflashed board,,\n'
    'robot_3,lidar_front,2026-05-20,lidar window scratched,new window,S. Lindqvist,\n'
    'robot_3,drive,2026-06-11,gearbox noise,greased gearbox,,\n'
)


@pytest.fixture
def small(tmp_path: Path) -> MaintenanceLog:
    log = _log(tmp_path / 'small.db')
    assert log.import_csv(_csv(tmp_path, SMALL)) == 6
    return log


# -- the shipped history --------------------------------------------------------------------------


def test_the_shipped_history_imports_whole(tmp_path: Path) -> None:
    with SHIPPED.open(encoding='utf-8', newline='') as stream:
        rows = list(csv.DictReader(stream))
    assert 35 <= len(rows) <= 60
    log = _log(tmp_path / 'fleet.db')
    assert log.import_csv(SHIPPED) == len(rows)
    assert len(log) == len(rows)
    devices = log.devices()
    assert devices == sorted(devices)
    expected = {'drive_left', 'drive_right', 'lidar_front', 'camera_front', 'imu', 'bms'}
    expected |= {'battery', 'dock_1', 'charger_1', 'estop_circuit', 'bumper_front'}
    assert expected <= set(devices)
    assert {row['robot_id'] for row in rows} == {'robot_1', 'robot_2', 'robot_3'}
    days = [date.fromisoformat(row['date']) for row in rows]
    assert date(2025, 6, 1) <= min(days) and max(days) <= date(2026, 11, 20)
    assert set(log.devices('robot_1')) < set(devices)


def test_the_shipped_history_answers_a_drive_question(tmp_path: Path) -> None:
    log = _log(tmp_path / 'fleet.db')
    log.import_csv(SHIPPED)
    found = log.query(device='drive', robot_id='robot_1', fault='over-current')
    assert [r.date for r in found] == sorted((r.date for r in found), reverse=True)
    assert len(found) >= 2
    assert all(r.device.startswith('drive_') and r.robot_id == 'robot_1' for r in found)


# -- queries --------------------------------------------------------------------------------------


def test_device_matches_a_family_case_insensitively(small: MaintenanceLog) -> None:
    family = small.query(device='drive')
    assert {r.device for r in family} == {'drive', 'drive_left', 'drive_right'}
    assert 'driver_board' not in {r.device for r in family}
    assert {r.device for r in small.query(device='DRIVE_LEFT')} == {'drive_left'}
    assert small.query(device='driv') == []
    assert {r.device for r in small.query(device='drive_')} == {'drive_left', 'drive_right'}


def test_fault_is_a_case_insensitive_substring(small: MaintenanceLog) -> None:
    found = small.query(fault='OVER-current')
    assert {(r.robot_id, r.device) for r in found} == {
        ('robot_1', 'drive_left'),
        ('robot_2', 'drive_left'),
        ('robot_2', 'driver_board'),
    }
    assert small.query(fault='window')[0].device == 'lidar_front'
    assert small.query(fault='no such fault') == []


def test_since_is_inclusive_and_results_are_newest_first(small: MaintenanceLog) -> None:
    found = small.query(since=date(2026, 3, 2))
    assert [r.date for r in found] == [
        date(2026, 6, 11),
        date(2026, 5, 20),
        date(2026, 4, 1),
        date(2026, 3, 2),
    ]
    assert small.query(since=datetime(2026, 6, 11, 17, 30))[0].device == 'drive'
    assert [r.date for r in small.query(limit=2)] == [date(2026, 6, 11), date(2026, 5, 20)]


def test_filters_combine(small: MaintenanceLog) -> None:
    found = small.query(device='drive', robot_id='robot_2', fault='over-current')
    assert [(r.device, r.date) for r in found] == [('drive_left', date(2026, 2, 14))]
    assert small.query(robot_id='robot_9') == []
    # A model leaves an optional argument blank for "any".
    assert len(small.query(device='', robot_id=' ', fault='')) == 6


def test_same_day_records_come_newest_added_first() -> None:
    log = _log()
    log.add(_record(action='first'))
    log.add(_record(action='second'))
    assert [r.action for r in log.query()] == ['second', 'first']


@pytest.mark.parametrize('limit', [0, -1, MAX_LIMIT + 1, 10_000, True, 2.5, '5', None])
def test_limit_outside_its_bounds_is_refused(limit: object) -> None:
    log = _log()
    with pytest.raises(MaintenanceError, match='limit'):
        log.query(limit=limit)  # type: ignore[arg-type]


def test_limit_bounds_themselves_are_accepted() -> None:
    log = _log()
    for day in range(1, 29):
        for month in range(1, 9):
            log.add(_record(day=date(2026, month, day)))
    assert len(log) == 224
    assert len(log.query(limit=1)) == 1
    assert len(log.query(limit=MAX_LIMIT)) == MAX_LIMIT


def test_bad_filter_types_are_refused() -> None:
    log = _log()
    with pytest.raises(MaintenanceError, match='since'):
        log.query(since='2026-01-01')  # type: ignore[arg-type]
    with pytest.raises(MaintenanceError, match='device'):
        log.query(device=3)  # type: ignore[arg-type]


_devices = st.sampled_from(['drive_left', 'drive_right', 'Drive_Rear', 'driver', 'imu', 'lidar'])
_records = st.builds(
    MaintenanceRecord,
    robot_id=st.sampled_from(['robot_1', 'robot_2']),
    device=_devices,
    date=st.dates(min_value=date(2025, 6, 1), max_value=TODAY),
    fault=st.sampled_from(['over-current', 'Cable chafed', 'noise', 'OVER-CURRENT at start']),
    action=st.sampled_from(['fuse', 'cable', 'grease']),
)


@settings(max_examples=60, deadline=None)
@given(
    records=st.lists(_records, max_size=30),
    device=st.sampled_from([None, 'drive', 'DRIVE_LEFT', 'driver', 'imu']),
    fault=st.sampled_from([None, 'current', 'CABLE']),
    limit=st.integers(min_value=1, max_value=MAX_LIMIT),
)
def test_query_agrees_with_a_plain_filter(
    records: list[MaintenanceRecord], device: str | None, fault: str | None, limit: int
) -> None:
    log = _log()
    stored = [r for r in records if log.add(r)]
    assert len(log) == len(stored)

    def wanted(r: MaintenanceRecord) -> bool:
        name = r.device.lower()
        in_family = (
            device is None or name == device.lower() or name.startswith(f'{device.lower()}_')
        )
        return in_family and (fault is None or fault.lower() in r.fault.lower())

    found = log.query(device=device, fault=fault, limit=limit)
    expected = [r for r in stored if wanted(r)]
    assert len(found) == min(limit, len(expected))
    assert all(wanted(r) for r in found)
    assert [r.date for r in found] == sorted((r.date for r in found), reverse=True)
    assert set(found) <= set(expected)


# -- import: duplicates and refusals --------------------------------------------------------------


def test_re_importing_skips_duplicates(tmp_path: Path, small: MaintenanceLog) -> None:
    assert small.import_csv(tmp_path / 'history.csv') == 0
    assert len(small) == 6
    more = _csv(
        tmp_path,
        'robot_1,drive_left,2026-01-10,over-current at start-up,replaced fuse F2,other,note\n'
        'robot_1,drive_left,2026-07-01,over-current at start-up,replaced fuse F2,,\n'
        'robot_1,drive_left,2026-07-01,over-current at start-up,replaced fuse F2,,\n',
        name='more.csv',
    )
    assert small.import_csv(more) == 1
    assert len(small) == 7
    # Devices are named case-insensitively, so a retyped name is the same device.
    same = _record(device='DRIVE_LEFT', day=date(2026, 7, 1), action='replaced fuse F2')
    assert not small.add(same)
    assert small.add(_record(device='drive_left', day=date(2026, 7, 1), action='new fuse'))
    assert len(small) == 8
    assert small.devices().count('drive_left') == 1


def test_one_bad_row_imports_nothing_and_names_its_line(tmp_path: Path) -> None:
    log = _log(tmp_path / 'log.db')
    log.add(_record())
    bad = _csv(
        tmp_path,
        'robot_1,drive_left,2026-01-10,over-current,new fuse,,\n'
        'robot_1,imu,2026-01-11,drift,recalibrated,,\n'
        'robot_1,camera_front,2026-13-40,lens smeared,cleaned,,\n'
        'robot_1,bumper,2026-01-12,stuck,new switch,,\n',
    )
    with pytest.raises(MaintenanceError) as caught:
        log.import_csv(bad)
    message = str(caught.value)
    assert 'line 4' in message and 'column date' in message and '2026-13-40' in message
    assert 'YYYY-MM-DD' in message and 'nothing imported' in message
    assert str(bad) in message
    assert len(log) == 1
    assert len(_log(tmp_path / 'log.db')) == 1


def test_every_bad_row_is_listed(tmp_path: Path) -> None:
    bad = _csv(
        tmp_path,
        'robot_1,,2026-01-10,over-current,new fuse,,\n'
        'robot_1,imu,2026-01-11,drift,recalibrated,,\n'
        'robot_1,imu,2026-01-11,,recalibrated,,\n'
        'robot_1,imu,2026-01-11,drift,recalibrated,,,extra\n',
    )
    with pytest.raises(MaintenanceError) as caught:
        _log().import_csv(bad)
    message = str(caught.value)
    assert '3 bad rows' in message
    assert 'line 2, column device: empty' in message
    assert 'line 4, column fault: empty' in message
    assert 'line 5: 8 fields, expected 7' in message


def test_line_numbers_count_a_note_spread_over_lines(tmp_path: Path) -> None:
    body = (
        'robot_1,drive_left,2026-01-10,over-current,new fuse,,"first line\nsecond line"\n'
        'robot_1,imu,20260111,drift,recalibrated,,\n'
    )
    with pytest.raises(MaintenanceError, match=r'line 4, column date'):
        _log().import_csv(_csv(tmp_path, body))


@pytest.mark.parametrize('text', ['2026-1-5', '05/01/2026', '20260105', '2026-02-30', 'soon'])
def test_dates_must_be_iso_days(tmp_path: Path, text: str) -> None:
    path = _csv(tmp_path, f'robot_1,imu,{text},drift,recalibrated,,\n')
    with pytest.raises(MaintenanceError, match=r'line 2, column date: .*expected YYYY-MM-DD'):
        _log().import_csv(path)


def test_a_future_date_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'robot_1,imu,2026-12-02,drift,recalibrated,,\n')
    with pytest.raises(MaintenanceError, match=r'line 2, column date 2026-12-02 is in the future'):
        _log().import_csv(path)
    assert _log().import_csv(_csv(tmp_path, 'robot_1,imu,2026-12-01,drift,recalibrated,,\n')) == 1
    with pytest.raises(MaintenanceError, match='in the future'):
        _log().add(_record(day=date(2027, 1, 1)))


def test_an_unknown_column_is_refused_by_name(tmp_path: Path) -> None:
    header = 'robot_id,device,date,fault,action,hours\n'
    path = _csv(tmp_path, 'robot_1,imu,2026-01-11,drift,recalibrated,3\n', header=header)
    with pytest.raises(MaintenanceError) as caught:
        _log().import_csv(path)
    assert "line 1: unknown column 'hours'" in str(caught.value)
    assert 'technician,notes' in str(caught.value)


def test_missing_and_doubled_columns_are_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, 'robot_1,imu,2026-01-11,drift\n', header='robot_id,device,date,fault\n')
    with pytest.raises(MaintenanceError, match='missing column action'):
        _log().import_csv(path)
    path = _csv(tmp_path, '', header='robot_id,device,date,fault,action,notes,notes\n')
    with pytest.raises(MaintenanceError, match='column notes twice'):
        _log().import_csv(path)


def test_optional_columns_may_be_left_out(tmp_path: Path) -> None:
    header = 'action,robot_id,device,date,fault\n'
    path = _csv(tmp_path, ' recalibrated , robot_1 , imu ,2026-01-11, drift\n\n', header=header)
    log = _log()
    assert log.import_csv(path) == 1
    (record,) = log.query()
    assert record == MaintenanceRecord(
        'robot_1', 'imu', date(2026, 1, 11), 'drift', 'recalibrated'
    )


def test_unreadable_files_are_maintenance_errors(tmp_path: Path) -> None:
    with pytest.raises(MaintenanceError, match='cannot be read'):
        _log().import_csv(tmp_path / 'absent.csv')
    (tmp_path / 'empty.csv').write_text('')
    with pytest.raises(MaintenanceError, match='empty'):
        _log().import_csv(tmp_path / 'empty.csv')
    (tmp_path / 'latin.csv').write_bytes(
        HEADER.encode() + b'robot_1,imu,2026-01-11,d\xe9rive,x,,\n'
    )
    with pytest.raises(MaintenanceError, match='not UTF-8'):
        _log().import_csv(tmp_path / 'latin.csv')


def test_add_checks_the_record() -> None:
    log = _log()
    with pytest.raises(MaintenanceError, match='device: empty'):
        log.add(_record(device='  '))
    with pytest.raises(MaintenanceError, match='date'):
        log.add(_record(day='2026-01-01'))  # type: ignore[arg-type]
    assert log.add(_record(device=' imu ', day=datetime(2026, 1, 2, 8, 0)))
    (stored,) = log.query()
    assert stored.device == 'imu' and stored.date == date(2026, 1, 2)
    assert len(log) == 1


# -- the database file ----------------------------------------------------------------------------


def test_a_file_database_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / 'maintenance.db'
    with _log(path) as log:
        assert log.import_csv(SHIPPED) > 0
        count, devices = len(log), log.devices()
        log.add(_record(device='bumper_rear'))
    with _log(path) as log:
        assert len(log) == count + 1
        assert set(devices) < set(log.devices())
        assert log.query(device='bumper_rear')[0].fault == 'over-current at start-up'
    with sqlite3.connect(path) as raw:
        assert raw.execute('PRAGMA journal_mode').fetchone() == ('wal',)
        assert raw.execute('PRAGMA user_version').fetchone() == (SCHEMA_VERSION,)


def test_a_newer_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / 'newer.db'
    _log(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute(f'PRAGMA user_version = {SCHEMA_VERSION + 1}')
    with pytest.raises(MaintenanceError, match=rf'schema version {SCHEMA_VERSION + 1}.*newer'):
        _log(path)


def test_a_database_of_something_else_is_refused(tmp_path: Path) -> None:
    path = tmp_path / 'other.db'
    with sqlite3.connect(path) as raw:
        raw.execute('CREATE TABLE orders (id INTEGER)')
    with pytest.raises(MaintenanceError, match=r'not a maintenance database.*orders'):
        _log(path)
    (tmp_path / 'text.db').write_text('not a database at all, just some text ' * 40)
    with pytest.raises(MaintenanceError, match='not a usable maintenance database'):
        _log(tmp_path / 'text.db')
    with pytest.raises(MaintenanceError, match='does not exist'):
        _log(tmp_path / 'no' / 'such' / 'folder.db')


def test_worker_threads_share_one_log(tmp_path: Path) -> None:
    log = _log(tmp_path / 'shared.db')
    errors: list[BaseException] = []

    def work(robot: int) -> None:
        try:
            for month in range(1, 13):
                log.add(_record(robot_id=f'robot_{robot}', day=date(2026, month, 1)))
                log.query(device='drive', robot_id=f'robot_{robot}')
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(log) == 8 * 12


# -- open_maintenance_log -------------------------------------------------------------------------


def test_open_seeds_only_an_empty_database(tmp_path: Path) -> None:
    path = str(tmp_path / 'site.db')
    with open_maintenance_log(path, SHIPPED, today=_today) as log:
        seeded = len(log)
        assert seeded > 0
        log.add(_record(device='bumper_rear'))
    with open_maintenance_log(path, SHIPPED, today=_today) as log:
        assert len(log) == seeded + 1
    other = _csv(tmp_path, 'robot_9,imu,2026-01-11,drift,recalibrated,,\n', name='other.csv')
    with open_maintenance_log(path, other, today=_today) as log:
        assert len(log) == seeded + 1 and log.query(robot_id='robot_9') == []


def test_open_in_memory_and_without_seed(tmp_path: Path) -> None:
    with open_maintenance_log('', str(SHIPPED), today=_today) as log:
        assert len(log) > 0
    with open_maintenance_log('', None) as log:
        assert len(log) == 0
    with open_maintenance_log(str(tmp_path / 'unseeded.db'), '') as log:
        assert len(log) == 0


def test_open_with_a_bad_seed_says_so(tmp_path: Path) -> None:
    bad = _csv(tmp_path, 'robot_1,imu,2026-01-11,drift\n')
    with pytest.raises(MaintenanceError, match='line 2'):
        open_maintenance_log(str(tmp_path / 'site.db'), bad, today=_today)
    with open_maintenance_log(str(tmp_path / 'site.db'), None) as log:
        assert len(log) == 0


# -- records and summaries ------------------------------------------------------------------------


def test_a_record_as_json() -> None:
    record = _record(technician='J. Ortiz', notes='tripped twice')
    data = record.to_dict()
    assert data['date'] == '2026-01-05'
    assert json.loads(json.dumps(data)) == data
    assert set(data) == {'robot_id', 'device', 'date', 'fault', 'action', 'technician', 'notes'}


def test_summary_lines_read_like_a_logbook() -> None:
    record = MaintenanceRecord(
        'robot_1',
        'drive_left',
        date(2026, 10, 14),
        'over-current at start-up',
        'replaced motor controller fuse',
        'J. Ortiz',
        'third time',
    )
    assert summary([record]) == (
        '2026-10-14 robot_1 drive_left: over-current at start-up -> '
        'replaced motor controller fuse (J. Ortiz)'
    )
    untidy = _record(fault='stuck\nclosed', action='new  switch')
    assert summary([untidy]) == '2026-01-05 robot_1 drive_left: stuck closed -> new switch'
    assert summary([]) == 'no maintenance records'


def test_summary_says_how_many_were_left_out(tmp_path: Path) -> None:
    log = _log()
    log.import_csv(SHIPPED)
    records = log.query(limit=MAX_LIMIT)
    text = summary(records)
    assert len(text) <= 600
    shown = text.splitlines()[:-1]
    assert shown and text.splitlines()[-1] == (
        f'... {len(records) - len(shown)} more records not shown ({len(records)} in all)'
    )
    assert shown[0].startswith(records[0].date.isoformat())
    short = summary(records, max_chars=100)
    assert len(short) <= 100 and 'not shown' in short
    assert len(summary(records, max_chars=10_000).splitlines()) == len(records)


def test_summary_cuts_a_long_line_and_refuses_a_tiny_budget() -> None:
    long = _record(notes='x', action='y' * 500)
    (line,) = summary([long]).splitlines()
    assert len(line) <= 200 and line.endswith('...')
    with pytest.raises(MaintenanceError, match='max_chars'):
        summary([long], max_chars=20)
