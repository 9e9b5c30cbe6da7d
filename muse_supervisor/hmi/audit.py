"""The HMI's audit trail: every request that tried to change something, who, when, what, outcome.

An entry names the identity the server verified (the session's account), never one the browser
sent; a request without a valid session is recorded too, with an empty actor and the peer's
address. Entries go to a JSON-lines file, flushed and fsynced one by one (a crash loses at most
the entry being written), and the bridge also publishes each one that concerns a robot on that
robot's ``operator_actions`` topic, which the incident recorder writes to the recording.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class AuditEntry:
    """One request that tried to change something (or to log in), and its outcome."""

    stamp: float
    # The verified account's name and role; empty when the request had no valid session.
    actor: str
    role: str
    # login, logout, approve, reject, acknowledge, assign, dismiss, handled_on_site, reset, ...
    action: str
    accepted: bool
    # What came of it: the component's answer, or why it was refused.
    message: str
    robot: str = ''
    incident_id: str = ''
    plan_id: str = ''
    plan_digest: str = ''
    reason: str = ''
    remote: str = ''

    def to_dict(self) -> dict[str, Any]:
        """The entry as JSON-ready data (the file's and the page's format)."""
        return asdict(self)


class AuditLog:
    """Appends entries to a file (if given) and keeps the newest in memory for the page."""

    def __init__(self, path: Path | None, keep: int = 500) -> None:
        self._lock = threading.Lock()
        self._recent: deque[AuditEntry] = deque(maxlen=keep)
        self._file = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open('a', encoding='utf-8')
            if path.stat().st_size and not path.read_bytes().endswith(b'\n'):
                self._file.write('\n')  # end a line a crash cut short: the next entry stays whole
        self.path = path

    def add(self, entry: AuditEntry) -> None:
        """Append ``entry``; it is on disk when this returns."""
        with self._lock:
            self._recent.append(entry)
            if self._file is not None:
                self._file.write(json.dumps(entry.to_dict(), sort_keys=True) + '\n')
                self._file.flush()
                os.fsync(self._file.fileno())

    def recent(self, limit: int = 50) -> list[AuditEntry]:
        """The newest ``limit`` entries, oldest first."""
        with self._lock:
            return list(self._recent)[-limit:]

    def close(self) -> None:
        """Close the file; later entries are kept in memory only."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def read_audit(path: Path) -> list[AuditEntry]:
    """The entries of an audit file; a last line cut short by a crash is skipped."""
    entries = []
    for line in path.read_text(encoding='utf-8').splitlines():
        try:
            entries.append(AuditEntry(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return entries
