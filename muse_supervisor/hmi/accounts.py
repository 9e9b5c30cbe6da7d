"""Who may use the operator HMI: accounts with hashed secrets, roles, and server-side sessions.

Identity is established by the server and never taken from the browser: an operator logs in with
a name and a secret (a password or a long token) that the server checks against a file of
scrypt hashes (``config/hmi_operators.yaml``, written with ``muse-supervisor hmi-account``); the
server then keeps the session and every request names the operator only through it. A name the
browser sends with an action is ignored.

Two roles: ``viewer`` sees everything; ``operator`` may also act (approve, reject, reset,
acknowledge, assign, dismiss). The check is :meth:`Role.may_act`, made by the server on each
request.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

# scrypt cost (RFC 7914): n=2**14, r=8, p=1 takes about 50 ms and 16 MiB here, a login's cost.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_PREFIX = 'scrypt'
_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_.-]{0,63}')
MIN_SECRET_LENGTH = 8


class AccountError(ValueError):
    """An accounts file or entry that cannot be used; the message says where and why."""


class Role(enum.Enum):
    """What an account may do."""

    VIEWER = 'viewer'
    OPERATOR = 'operator'

    def may_act(self) -> bool:
        """Only an operator changes anything: approves, rejects, resets, dismisses."""
        return self is Role.OPERATOR


def hash_secret(secret: str, salt: bytes | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` (base64) for ``secret``: what an accounts file stores."""
    if len(secret) < MIN_SECRET_LENGTH:
        raise AccountError(f'a secret needs at least {MIN_SECRET_LENGTH} characters')
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = _scrypt(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return '$'.join([_PREFIX, str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P),
                     _b64(salt), _b64(digest)])  # fmt: skip


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 2**20, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode('ascii')


@dataclass(frozen=True)
class Account:
    """One person (or one control-room display) who may log in."""

    name: str
    role: Role
    secret_hash: str = field(repr=False)

    def __post_init__(self) -> None:
        _parse_hash(self.secret_hash, self.name)

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this account's (constant time)."""
        n, r, p, salt, digest = _parse_hash(self.secret_hash, self.name)
        return hmac.compare_digest(_scrypt(secret, salt, n, r, p), digest)


def _parse_hash(text: str, name: str) -> tuple[int, int, int, bytes, bytes]:
    parts = text.split('$')
    try:
        if len(parts) != 6 or parts[0] != _PREFIX:
            raise ValueError
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or not salt or not digest:
            raise ValueError
    except ValueError:
        raise AccountError(
            f'account {name!r}: secret_hash is not "scrypt$n$r$p$salt$hash" '
            '(write one with muse-supervisor hmi-account)'
        ) from None
    return n, r, p, salt, digest


class AccountBook:
    """The accounts of an HMI server, read once from a file."""

    def __init__(self, accounts: list[Account]) -> None:
        self._accounts = {account.name: account for account in accounts}
        if len(self._accounts) != len(accounts):
            raise AccountError('two accounts share a name')
        # Checked against when the name is unknown, so a wrong name costs as long as a wrong
        # secret and the time of the answer does not tell which names exist.
        self._decoy = Account('decoy', Role.VIEWER, hash_secret(secrets.token_hex(16)))

    def __len__(self) -> int:
        return len(self._accounts)

    def verify(self, name: str, secret: str) -> Account | None:
        """The account when ``secret`` is its secret, else ``None`` (same cost either way)."""
        account = self._accounts.get(name)
        matches = (account or self._decoy).matches(secret)
        return account if account is not None and matches else None


def load_accounts(path: Path) -> AccountBook:
    """Read ``accounts: [{name, role, secret_hash}]``; every error names the file and entry."""
    try:
        spec = yaml.safe_load(path.read_text(encoding='utf-8'))
    except (OSError, yaml.YAMLError) as error:
        raise AccountError(f'{path}: cannot read the HMI accounts: {error}') from None
    entries = spec.get('accounts') if isinstance(spec, dict) else None
    if not isinstance(entries, list) or not entries:
        raise AccountError(f'{path}: expected "accounts:", a list of {{name, role, secret_hash}}')
    accounts = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        where = f'{path}: accounts[{index}]'
        if not isinstance(entry, dict):
            raise AccountError(f'{where}: expected a mapping with name, role and secret_hash')
        unknown = set(entry) - {'name', 'role', 'secret_hash'}
        if unknown:
            raise AccountError(f'{where}: unknown field(s) {sorted(unknown)}')
        name = str(entry.get('name', ''))
        if not _NAME.fullmatch(name):
            raise AccountError(f'{where}: name {name!r} is not a letter then letters, digits, _.-')
        roles = [role.value for role in Role]
        if entry.get('role') not in roles:
            raise AccountError(f'{where} ({name}): role {entry.get("role")!r}, expected {roles}')
        if name in seen:
            raise AccountError(f'{where}: name {name!r} is already accounts[{seen[name]}]')
        seen[name] = index
        try:
            accounts.append(Account(name, Role(entry['role']), str(entry.get('secret_hash', ''))))
        except AccountError as error:
            raise AccountError(f'{where}: {error}') from None
    try:
        return AccountBook(accounts)
    except AccountError as error:
        raise AccountError(f'{path}: {error}') from None


def account_entry(name: str, role: str, secret: str) -> dict[str, Any]:
    """One entry of an accounts file, checked the way :func:`load_accounts` checks it."""
    if not _NAME.fullmatch(name):
        raise AccountError(f'name {name!r} is not a letter then letters, digits, _.-')
    if role not in [r.value for r in Role]:
        raise AccountError(f'role {role!r}, expected viewer or operator')
    return {'name': name, 'role': role, 'secret_hash': hash_secret(secret)}


@dataclass
class Session:
    """A logged-in browser: who, since when, and the token its state-changing requests carry."""

    token: str = field(repr=False)
    account: Account
    opened: float
    last_seen: float
    # Sent back in a header with every action: a page of another site cannot read it, so a
    # request forged from there is refused even if the browser sent the session cookie.
    csrf: str = field(repr=False)


class SessionBook:
    """Server-side sessions, bounded in age and idle time. Thread-safe."""

    def __init__(
        self, clock: Callable[[], float], max_age: float = 12 * 3600.0, idle: float = 1800.0
    ) -> None:
        self._clock = clock
        self.max_age, self.idle = max_age, idle
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, account: Account) -> Session:
        """A new session for ``account``, after its secret was verified."""
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), account, now, now, secrets.token_urlsafe(24))
        with self._lock:
            self._expire(now)
            self._sessions[session.token] = session
        return session

    def check(self, token: str | None) -> Session | None:
        """The live session of ``token`` (and mark it seen), or ``None``."""
        if not token:
            return None
        now = self._clock()
        with self._lock:
            self._expire(now)
            session = self._sessions.get(token)
            if session is not None:
                session.last_seen = now
            return session

    def close(self, token: str | None) -> None:
        """End the session of ``token`` (logout); unknown tokens are ignored."""
        with self._lock:
            self._sessions.pop(token or '', None)

    def _expire(self, now: float) -> None:
        dead = [
            token for token, s in self._sessions.items()
            if now - s.opened > self.max_age or now - s.last_seen > self.idle
        ]  # fmt: skip
        for token in dead:
            del self._sessions[token]
