"""The HMI's audit trail: JSON lines on disk, one entry at a time, readable after a crash."""

from __future__ import annotations

import json
from pathlib import Path

from muse_supervisor.hmi.audit import AuditEntry, AuditLog, read_audit


def entry(index: int, **changes: object) -> AuditEntry:
    fields: dict[str, object] = {
        'stamp': 1000.0 + index, 'actor': 'alice', 'role': 'operator', 'action': 'approve',
        'accepted': index % 2 == 0, 'message': f'entry {index}: naïve, Zürich, 東京',
        'robot': 'r1', 'incident_id': 'inc-1', 'plan_id': 'p1', 'plan_digest': 'ab' * 32,
        'reason': 'ok', 'remote': '127.0.0.1',
    }  # fmt: skip
    fields.update(changes)
    return AuditEntry(**fields)  # type: ignore[arg-type]


def test_entries_are_json_lines_read_back_whole(tmp_path: Path) -> None:
    path = tmp_path / 'deep' / 'er' / 'audit.jsonl'  # folders are made
    log = AuditLog(path)
    written = [entry(0), entry(1, actor='', role='', action='login', robot=''), entry(2)]
    for item in written:
        log.add(item)
        # On disk when add returns, before the log is closed.
        assert read_audit(path)[-1] == item
    log.close()
    lines = path.read_text(encoding='utf-8').splitlines()
    assert len(lines) == 3
    assert [json.loads(line) for line in lines] == [item.to_dict() for item in written]
    assert read_audit(path) == written


def test_a_reopened_log_appends(tmp_path: Path) -> None:
    path = tmp_path / 'audit.jsonl'
    first = AuditLog(path)
    first.add(entry(0))
    first.close()
    second = AuditLog(path)
    second.add(entry(1))
    second.close()
    assert read_audit(path) == [entry(0), entry(1)]


def test_a_last_line_cut_short_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / 'audit.jsonl'
    log = AuditLog(path)
    log.add(entry(0))
    log.add(entry(1))
    log.close()
    whole = path.read_text(encoding='utf-8')
    cut = len(json.dumps(entry(1).to_dict(), sort_keys=True)) // 2
    path.write_text(whole[: len(whole) - cut], encoding='utf-8')
    assert read_audit(path) == [entry(0)]


def test_lines_that_are_not_entries_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / 'audit.jsonl'
    good = json.dumps(entry(0).to_dict())
    path.write_text('\n'.join([good, '[1, 2]', '"text"', '{"stamp": 1.0}', '', good]) + '\n',
                    encoding='utf-8')  # fmt: skip
    assert read_audit(path) == [entry(0), entry(0)]


def test_an_entry_after_a_crash_cut_line_is_kept(tmp_path: Path) -> None:
    # A crash loses at most the entry being written: the first entry written after the restart
    # must not be glued to the cut line (the file is opened for append, with no newline first).
    path = tmp_path / 'audit.jsonl'
    path.write_text(json.dumps(entry(0).to_dict()) + '\n{"stamp": 1001.0, "act', encoding='utf-8')
    log = AuditLog(path)
    log.add(entry(2))
    log.close()
    assert read_audit(path) == [entry(0), entry(2)]


def test_recent_is_bounded_and_oldest_first(tmp_path: Path) -> None:
    log = AuditLog(None, keep=5)
    for index in range(8):
        log.add(entry(index))
    assert log.recent() == [entry(index) for index in range(3, 8)]
    assert log.recent(2) == [entry(6), entry(7)]
    assert log.path is None


def test_after_close_entries_are_kept_in_memory_only(tmp_path: Path) -> None:
    path = tmp_path / 'audit.jsonl'
    log = AuditLog(path)
    log.add(entry(0))
    log.close()
    log.add(entry(1))
    log.close()  # twice is harmless
    assert read_audit(path) == [entry(0)]
    assert log.recent() == [entry(0), entry(1)]
