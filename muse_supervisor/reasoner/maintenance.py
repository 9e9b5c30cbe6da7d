"""The maintenance log: what technicians did to which device, behind the ``maintenance_log`` tool.

An incident on ``drive_left`` reads differently when the same controller fuse was replaced twice
this quarter: the reasoner asks this log for a device's history before it ranks recovery plans,
and the operator sees the same short lines it saw. The history is a site's own record, kept in an
SQLite file beside the robot's other state, and seeded from a CSV that a maintenance team can
write in any spreadsheet (``config/maintenance/history.csv`` is the shipped example).

Why SQLite: one file, no server, atomic transactions, and a write-ahead journal, so an import
interrupted by a crash or a power cut leaves either all of its rows or none of them. Why strict
CSV checks: a history with a mistyped date or a shifted column would quietly give the reasoner
wrong evidence; a refused file with the line and column named is fixed in a minute.

Plain Python on the standard library only: the node and the CLI wrap it, tests use it directly.
"""

from __future__ import annotations

import csv
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

SCHEMA_VERSION = 1
"""The layout this module writes and reads (``PRAGMA user_version``). A change of the table is a
new number and a migration here; a database from a newer package is refused, never guessed at."""

REQUIRED_COLUMNS = ('robot_id', 'device', 'date', 'fault', 'action')
OPTIONAL_COLUMNS = ('technician', 'notes')
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

MIN_LIMIT = 1
MAX_LIMIT = 200
"""A query returns at most this many records: the answer goes into a model's context."""

DEFAULT_SUMMARY_CHARS = 600
MIN_SUMMARY_CHARS = 60
"""Room for at least the left-out count: a shorter summary could say nothing honest."""
LINE_CHARS = 200
"""One record's line is cut here, so that one long note cannot push every other record out."""

FAMILY_SEPARATORS = frozenset('_-./')
"""What may follow a family's name: ``drive`` is the family of ``drive_left``, not ``driver``."""

_ISO_DATE = re.compile(r'\d{4}-\d{2}-\d{2}')
_MAX_LISTED_ERRORS = 20
_BUSY_TIMEOUT_S = 5.0

_SCHEMA = """
CREATE TABLE maintenance (
    id INTEGER PRIMARY KEY,
    robot_id TEXT NOT NULL,
    device TEXT NOT NULL COLLATE NOCASE,
    date TEXT NOT NULL,
    fault TEXT NOT NULL,
    action TEXT NOT NULL,
    technician TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    UNIQUE (robot_id, device, date, fault, action)
);
CREATE INDEX maintenance_by_date ON maintenance (date DESC, id DESC);
"""


class MaintenanceError(ValueError):
    """Bad maintenance input: a CSV, a record, a query argument or the database file itself.

    The message says where (file, line, column), what was found and what was expected, so that
    the person who reads it can fix the input without reading this module.
    """


@dataclass(frozen=True)
class MaintenanceRecord:
    """One intervention: on which robot and device, when, what was wrong and what was done."""

    robot_id: str
    device: str
    date: date
    fault: str
    action: str
    technician: str = ''
    notes: str = ''

    def to_dict(self) -> dict[str, str]:
        """Plain JSON types (the date as ``YYYY-MM-DD``), for a tool result or a log line."""
        return {
            'robot_id': self.robot_id,
            'device': self.device,
            'date': self.date.isoformat(),
            'fault': self.fault,
            'action': self.action,
            'technician': self.technician,
            'notes': self.notes,
        }


class MaintenanceLog:
    """The maintenance history of a fleet, in one SQLite database.

    Threads: the reasoner runs tool calls on worker threads, and an in-memory database exists
    only on the connection that made it, so there is one connection, opened with
    ``check_same_thread=False``, and every use of it holds this object's lock. Calls are short
    (an indexed query, or one import transaction), so serialising them costs nothing noticeable.

    Durability: file databases use the write-ahead journal with ``synchronous=FULL``: a commit
    that returned is on disk, and a crash during an import leaves the database as it was before
    it. Each import and each :meth:`add` is one transaction.

    ``today`` is injected so that "a date in the future" can be tested on any day.
    """

    def __init__(self, path: str | Path, today: Callable[[], date] = date.today) -> None:
        self._where = str(path)
        self._today = today
        self._lock = threading.Lock()
        memory = self._where == ':memory:'
        if not memory:
            parent = Path(path).parent
            if not parent.is_dir():
                raise MaintenanceError(
                    f'maintenance database {self._where}: folder {parent} does not exist '
                    '(expected the path of a file in an existing folder, or ":memory:")'
                )
        try:
            self._db = sqlite3.connect(
                self._where, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise MaintenanceError(
                f'maintenance database {self._where} cannot be opened: {error}'
            ) from error
        try:
            self._db.create_function('device_in_family', 2, _device_in_family, deterministic=True)
            self._db.create_function('contains_text', 2, _contains_text, deterministic=True)
            # The schema is checked first: a file that is not ours is refused as it was found.
            self._open_schema()
            if not memory:
                self._db.execute('PRAGMA journal_mode=WAL')
                self._db.execute('PRAGMA synchronous=FULL')
        except sqlite3.DatabaseError as error:
            self._db.close()
            raise MaintenanceError(
                f'{self._where} is not a usable maintenance database: {error}'
            ) from error
        except MaintenanceError:
            self._db.close()
            raise

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection; the log cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> MaintenanceLog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute('SELECT COUNT(*) FROM maintenance').fetchone()
        return int(count)

    def __repr__(self) -> str:
        return f'MaintenanceLog({self._where!r})'

    # -- writing -------------------------------------------------------------------------------

    def import_csv(self, path: str | Path) -> int:
        """Import a history CSV and return how many of its rows were new.

        All or nothing: every row is checked first, and one bad row refuses the whole file, with
        each bad row's line and column in the message (a half-imported history would look
        complete and be wrong). Rows already in the log (same robot, device, date, fault and
        action) are skipped, so importing the same file again adds nothing.
        """
        records = self._read_csv(Path(path))
        with self._transaction():
            return sum(self._insert(record) for record in records)

    def add(self, record: MaintenanceRecord) -> bool:
        """Add one record; False when the log already had it (nothing is doubled)."""
        checked = self._check_record(record, 'record')
        with self._transaction():
            return self._insert(checked)

    # -- reading -------------------------------------------------------------------------------

    def query(
        self,
        device: str | None = None,
        robot_id: str | None = None,
        fault: str | None = None,
        since: date | None = None,
        limit: int = 20,
    ) -> list[MaintenanceRecord]:
        """Records matching every given filter, newest first, at most ``limit`` of them.

        ``device`` is case-insensitive and names a device or its family: ``drive`` matches
        ``drive_left`` and ``drive_right``, because a model asking about "the drive" should not
        have to know how this site names its motors. ``fault`` is a case-insensitive substring,
        ``robot_id`` exact, ``since`` inclusive. A blank ``device``, ``robot_id`` or ``fault``
        filters nothing: models fill an optional tool argument with ``''`` for "any".
        """
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise MaintenanceError(
                f'limit {limit!r}: expected a whole number from {MIN_LIMIT} to {MAX_LIMIT}'
            )
        if not MIN_LIMIT <= limit <= MAX_LIMIT:
            raise MaintenanceError(f'limit {limit}: expected {MIN_LIMIT} to {MAX_LIMIT}')
        clauses: list[str] = []
        values: list[Any] = []
        for name, value, clause in (
            ('device', device, 'device_in_family(device, ?)'),
            ('robot_id', robot_id, 'robot_id = ?'),
            ('fault', fault, 'contains_text(fault, ?)'),
        ):
            text = _filter_text(name, value)
            if text:
                clauses.append(clause)
                values.append(text)
        if since is not None:
            clauses.append('date >= ?')
            values.append(_as_date(since, 'since').isoformat())
        where = f'WHERE {" AND ".join(clauses)}' if clauses else ''
        sql = (
            'SELECT robot_id, device, date, fault, action, technician, notes FROM maintenance '
            f'{where} ORDER BY date DESC, id DESC LIMIT ?'
        )
        with self._lock:
            rows = self._db.execute(sql, (*values, limit)).fetchall()
        return [_record_from_row(row) for row in rows]

    def devices(self, robot_id: str | None = None) -> list[str]:
        """The devices with a history, sorted (on one robot when ``robot_id`` is given)."""
        robot = _filter_text('robot_id', robot_id)
        sql = 'SELECT DISTINCT device FROM maintenance'
        values: tuple[str, ...] = ()
        if robot:
            sql += ' WHERE robot_id = ?'
            values = (robot,)
        with self._lock:
            rows = self._db.execute(sql + ' ORDER BY device', values).fetchall()
        return [str(device) for (device,) in rows]

    # -- internals -----------------------------------------------------------------------------

    def _open_schema(self) -> None:
        with self._transaction():
            (version,) = self._db.execute('PRAGMA user_version').fetchone()
            if version == SCHEMA_VERSION:
                return
            if version != 0:
                raise MaintenanceError(
                    f'maintenance database {self._where} has schema version {version}; this '
                    f'package reads version {SCHEMA_VERSION} only (a database written by a newer '
                    'muse_supervisor: upgrade the package, or give another database path)'
                )
            tables = [
                str(name)
                for (name,) in self._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
                )
            ]
            if tables:
                raise MaintenanceError(
                    f'{self._where} is not a maintenance database: it has tables '
                    f'{", ".join(tables)} and no schema version (expected an empty or new file)'
                )
            for statement in _SCHEMA.split(';'):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute(f'PRAGMA user_version = {SCHEMA_VERSION}')

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock, rolled back on any error."""
        with self._lock:
            self._db.execute('BEGIN IMMEDIATE')
            try:
                yield
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self._db.execute('ROLLBACK')
                raise
            self._db.execute('COMMIT')

    def _insert(self, record: MaintenanceRecord) -> bool:
        cursor = self._db.execute(
            'INSERT OR IGNORE INTO maintenance '
            '(robot_id, device, date, fault, action, technician, notes) '
            'VALUES (?, ?, ?, ?, ?, ?, ?)',
            (
                record.robot_id,
                record.device,
                record.date.isoformat(),
                record.fault,
                record.action,
                record.technician,
                record.notes,
            ),
        )
        return cursor.rowcount == 1

    def _check_record(self, record: MaintenanceRecord, where: str) -> MaintenanceRecord:
        """The record with its text trimmed, or the first thing wrong with it."""
        if not isinstance(record, MaintenanceRecord):
            raise MaintenanceError(f'{where}: expected a MaintenanceRecord, got {record!r}')
        fields: dict[str, str] = {}
        for name in ('robot_id', 'device', 'fault', 'action', 'technician', 'notes'):
            value = getattr(record, name)
            if not isinstance(value, str):
                raise MaintenanceError(f'{where}, {name}: expected text, got {value!r}')
            fields[name] = value.strip()
            if name in REQUIRED_COLUMNS and not fields[name]:
                raise MaintenanceError(f'{where}, {name}: empty (expected some text)')
        day = _as_date(record.date, f'{where}, date')
        self._check_not_future(day, f'{where}, date')
        return MaintenanceRecord(date=day, **fields)

    def _check_not_future(self, day: date, where: str) -> None:
        today = self._today()
        if day > today:
            raise MaintenanceError(
                f'{where} {day.isoformat()} is in the future (expected {today.isoformat()} '
                'or earlier: a history records what was done)'
            )

    def _read_csv(self, path: Path) -> list[MaintenanceRecord]:
        try:
            with path.open(encoding='utf-8-sig', newline='') as stream:
                return self._parse_csv(stream, path)
        except OSError as error:
            raise MaintenanceError(
                f'{path}: cannot be read ({error.strerror or error})'
            ) from error
        except UnicodeDecodeError as error:
            raise MaintenanceError(f'{path}: not UTF-8 text ({error.reason})') from error
        except csv.Error as error:
            raise MaintenanceError(f'{path}: not a well-formed CSV file ({error})') from error

    def _parse_csv(self, stream: TextIO, path: Path) -> list[MaintenanceRecord]:
        reader = csv.reader(stream)
        header = next(reader, None)
        if header is None:
            raise MaintenanceError(f'{path}: empty (expected a header: {",".join(COLUMNS)})')
        columns = [name.strip() for name in header]
        _check_header(columns, path)
        records: list[MaintenanceRecord] = []
        errors: list[str] = []
        line = reader.line_num
        for row in reader:
            # csv counts physical lines: a quoted note may span several, so the row starts here.
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            try:
                records.append(self._parse_row(row, columns, f'line {start}'))
            except MaintenanceError as error:
                errors.append(str(error))
        if len(errors) == 1:
            raise MaintenanceError(f'{path}, {errors[0]}; nothing imported')
        if errors:
            listed = errors[:_MAX_LISTED_ERRORS]
            more = len(errors) - len(listed)
            listed += [f'... and {more} more'] if more else []
            raise MaintenanceError(
                f'{path}: {len(errors)} bad rows, nothing imported:\n  ' + '\n  '.join(listed)
            )
        return records

    def _parse_row(self, row: list[str], columns: list[str], where: str) -> MaintenanceRecord:
        if len(row) != len(columns):
            raise MaintenanceError(
                f'{where}: {len(row)} fields, expected {len(columns)} '
                f'({",".join(columns)}; a comma in a note needs the note in double quotes)'
            )
        cells = {name: value.strip() for name, value in zip(columns, row, strict=True)}
        for name in REQUIRED_COLUMNS:
            if not cells[name]:
                raise MaintenanceError(f'{where}, column {name}: empty (expected some text)')
        day = _parse_date(cells['date'], f'{where}, column date')
        self._check_not_future(day, f'{where}, column date')
        return MaintenanceRecord(
            robot_id=cells['robot_id'],
            device=cells['device'],
            date=day,
            fault=cells['fault'],
            action=cells['action'],
            technician=cells.get('technician', ''),
            notes=cells.get('notes', ''),
        )


def open_maintenance_log(
    db_path: str,
    seed_csv: str | Path | None,
    today: Callable[[], date] = date.today,
) -> MaintenanceLog:
    """The log the reasoner node and the CLI use: ``db_path`` (``''``: in memory), seeded once.

    The seed CSV is imported only into an empty database, so a site's own additions are never
    mixed with the example history on a restart, and a seed that was edited after the first
    start is not imported over what the database already holds. ``''`` as seed means none, as
    a ROS string parameter says "not set".
    """
    log = MaintenanceLog(db_path or ':memory:', today=today)
    if seed_csv is not None and seed_csv != '' and len(log) == 0:
        try:
            log.import_csv(seed_csv)
        except MaintenanceError:
            log.close()
            raise
    return log


def summary(records: Sequence[MaintenanceRecord], max_chars: int = DEFAULT_SUMMARY_CHARS) -> str:
    """One short line per record, for an operator's screen or a model's context, in order.

    At most ``max_chars`` characters: whole lines are kept while they fit, and the last line
    then says how many records were left out, so a cut list is never taken for the whole story.
    Notes are left out (they are in :meth:`MaintenanceRecord.to_dict`); a line longer than
    ``LINE_CHARS`` is cut with ``...``.
    """
    if isinstance(max_chars, bool) or not isinstance(max_chars, int):
        raise MaintenanceError(f'max_chars {max_chars!r}: expected a whole number')
    if max_chars < MIN_SUMMARY_CHARS:
        raise MaintenanceError(
            f'max_chars {max_chars}: expected at least {MIN_SUMMARY_CHARS} (room for the count)'
        )
    if not records:
        return 'no maintenance records'
    lines = [_summary_line(record) for record in records]
    total = len(lines)
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        cost = len(line) + (1 if kept else 0)
        left = total - index - 1
        footer = len(_left_out(left, total)) + 1 if left else 0
        if used + cost + footer > max_chars:
            break
        kept.append(line)
        used += cost
    if len(kept) < total:
        kept.append(_left_out(total - len(kept), total))
    return '\n'.join(kept)


# -- helpers ---------------------------------------------------------------------------------


def _left_out(count: int, total: int) -> str:
    noun = 'record' if count == 1 else 'records'
    return f'... {count} more {noun} not shown ({total} in all)'


def _summary_line(record: MaintenanceRecord) -> str:
    text = (
        f'{record.date.isoformat()} {_one_line(record.robot_id)} {_one_line(record.device)}: '
        f'{_one_line(record.fault)} -> {_one_line(record.action)}'
    )
    if record.technician:
        text += f' ({_one_line(record.technician)})'
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 3].rstrip() + '...'


def _one_line(text: str) -> str:
    """The text with every run of white space (a note's line breaks too) made one space."""
    return ' '.join(text.split())


def _check_header(columns: list[str], path: Path) -> None:
    expected = f'expected {",".join(REQUIRED_COLUMNS)} and optionally {",".join(OPTIONAL_COLUMNS)}'
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        names = ', '.join(repr(name) for name in unknown)
        raise MaintenanceError(f'{path}, line 1: unknown column {names} ({expected})')
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        raise MaintenanceError(f'{path}, line 1: column {", ".join(doubled)} twice ({expected})')
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise MaintenanceError(f'{path}, line 1: missing column {", ".join(missing)} ({expected})')


def _parse_date(text: str, where: str) -> date:
    try:
        if not _ISO_DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise MaintenanceError(
            f'{where}: {text!r} is not a date (expected YYYY-MM-DD, e.g. 2026-03-14)'
        ) from None


def _as_date(value: object, where: str) -> date:
    """A date; a datetime gives its day (a time of day means nothing in this log)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise MaintenanceError(f'{where}: {value!r} is not a date (expected a datetime.date)')


def _filter_text(name: str, value: object) -> str:
    if value is None:
        return ''
    if not isinstance(value, str):
        raise MaintenanceError(f'{name} {value!r}: expected text or None')
    return value.strip()


def _device_in_family(device: str, query: str) -> bool:
    """Whether ``device`` is ``query`` or one of its family (``query`` + a separator + more)."""
    name, family = device.casefold(), query.casefold()
    if name == family:
        return True
    if not name.startswith(family):
        return False
    return family[-1] in FAMILY_SEPARATORS or name[len(family)] in FAMILY_SEPARATORS


def _contains_text(text: str, needle: str) -> bool:
    return needle.casefold() in text.casefold()


def _record_from_row(row: Iterable[Any]) -> MaintenanceRecord:
    robot_id, device, day, fault, action, technician, notes = row
    return MaintenanceRecord(
        robot_id=robot_id,
        device=device,
        date=date.fromisoformat(day),
        fault=fault,
        action=action,
        technician=technician,
        notes=notes,
    )
