"""HMI accounts: scrypt hashes, the accounts file's checks, verification and sessions.

scrypt costs about 50 ms a hash: the hashes are made once per module and the checks that refuse
a file stop before an :class:`AccountBook` (which hashes a decoy) is built.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from muse_supervisor.hmi.accounts import (
    MIN_SECRET_LENGTH,
    Account,
    AccountBook,
    AccountError,
    Role,
    SessionBook,
    account_entry,
    hash_secret,
    load_accounts,
)

SECRET = 'correct horse battery'
VIEWER_SECRET = 'viewer secret 42'
_VALID_NAME = re.compile(r'[A-Za-z][A-Za-z0-9_.-]{0,63}')


@pytest.fixture(scope='module')
def operator_hash() -> str:
    return hash_secret(SECRET)


@pytest.fixture(scope='module')
def book(operator_hash: str) -> AccountBook:
    return AccountBook([
        Account('alice', Role.OPERATOR, operator_hash),
        Account('victor', Role.VIEWER, hash_secret(VIEWER_SECRET)),
    ])  # fmt: skip


def write(path: Path, spec: Any) -> Path:
    path.write_text(yaml.safe_dump(spec), encoding='utf-8')
    return path


# -- hashes ------------------------------------------------------------------------------------


def test_a_hash_matches_its_secret_and_only_it(operator_hash: str) -> None:
    account = Account('alice', Role.OPERATOR, operator_hash)
    assert account.matches(SECRET)
    assert not account.matches(SECRET + 'x')
    assert not account.matches(SECRET.upper())


def test_the_hash_format_and_a_fresh_salt_each_time(operator_hash: str) -> None:
    parts = operator_hash.split('$')
    assert parts[:4] == ['scrypt', str(2**14), '8', '1']
    assert len(parts) == 6
    # The secret is not in the hash, and a fixed salt gives a reproducible hash.
    assert SECRET not in operator_hash
    salt = b'0123456789abcdef'
    assert hash_secret(SECRET, salt) == hash_secret(SECRET, salt)
    assert hash_secret(SECRET, salt) != operator_hash


@pytest.mark.parametrize('secret', ['', 'a', 'x' * (MIN_SECRET_LENGTH - 1)])
def test_a_short_secret_is_refused(secret: str) -> None:
    with pytest.raises(AccountError, match=f'at least {MIN_SECRET_LENGTH} characters'):
        hash_secret(secret)


def test_a_secret_of_the_minimum_length_is_accepted() -> None:
    salt = b'fixed salt 16 by'
    text = hash_secret('x' * MIN_SECRET_LENGTH, salt)
    assert Account('bob', Role.VIEWER, text).matches('x' * MIN_SECRET_LENGTH)


@pytest.mark.parametrize(
    'text',
    ['', 'plain', 'bcrypt$16384$8$1$AAAA$AAAA', 'scrypt$16384$8$1$AAAA', 'scrypt$x$8$1$AAAA$AAAA',
     'scrypt$16384$8$1$not base64!$AAA'],
)  # fmt: skip
def test_a_malformed_hash_is_refused_with_the_account_name(text: str) -> None:
    with pytest.raises(AccountError, match=r"account 'carol': secret_hash"):
        Account('carol', Role.VIEWER, text)


# -- the accounts file -------------------------------------------------------------------------


def test_a_valid_file_loads(tmp_path: Path, operator_hash: str) -> None:
    path = write(tmp_path / 'accounts.yaml', {'accounts': [
        {'name': 'alice', 'role': 'operator', 'secret_hash': operator_hash},
        account_entry('victor', 'viewer', VIEWER_SECRET),
    ]})  # fmt: skip
    loaded = load_accounts(path)
    assert len(loaded) == 2
    alice = loaded.verify('alice', SECRET)
    assert alice is not None
    assert (alice.name, alice.role) == ('alice', Role.OPERATOR)
    victor = loaded.verify('victor', VIEWER_SECRET)
    assert victor is not None
    assert victor.role is Role.VIEWER
    assert not victor.role.may_act()
    assert alice.role.may_act()


@pytest.mark.parametrize(
    'spec',
    [None, 'accounts', {}, {'accounts': None}, {'accounts': []}, {'accounts': {'name': 'a'}},
     {'users': [{'name': 'alice'}]}],
)  # fmt: skip
def test_a_file_without_a_list_of_accounts_is_refused(tmp_path: Path, spec: Any) -> None:
    path = write(tmp_path / 'accounts.yaml', spec)
    with pytest.raises(AccountError) as error:
        load_accounts(path)
    assert str(path) in str(error.value)
    assert '"accounts:"' in str(error.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / 'nowhere.yaml'
    with pytest.raises(AccountError, match='cannot read the HMI accounts') as error:
        load_accounts(path)
    assert str(path) in str(error.value)


def test_a_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / 'broken.yaml'
    path.write_text('accounts: [ {name: alice\n', encoding='utf-8')
    with pytest.raises(AccountError, match='cannot read the HMI accounts') as error:
        load_accounts(path)
    assert str(path) in str(error.value)


def entries_with(operator_hash: str, bad: Any) -> dict[str, Any]:
    """A good first entry and ``bad`` second: the error must name accounts[1]."""
    return {'accounts': [{'name': 'alice', 'role': 'operator', 'secret_hash': operator_hash}, bad]}


@pytest.mark.parametrize(
    ('bad', 'expected'),
    [
        ('just a string', 'expected a mapping'),
        ({'name': 'bob', 'role': 'admin', 'secret_hash': 'H'}, "role 'admin'"),
        ({'name': 'bob', 'secret_hash': 'H'}, 'role None'),
        ({'name': '9lives', 'role': 'viewer', 'secret_hash': 'H'}, "name '9lives'"),
        ({'name': 'bo b', 'role': 'viewer', 'secret_hash': 'H'}, "name 'bo b'"),
        ({'role': 'viewer', 'secret_hash': 'H'}, "name ''"),
        ({'name': 'bob', 'role': 'viewer', 'secret_hash': 'H', 'password': 'x'},
         "unknown field(s) ['password']"),
        ({'name': 'bob', 'role': 'viewer', 'secret_hash': 'scrypt$1$2'}, 'secret_hash'),
        ({'name': 'bob', 'role': 'viewer'}, 'secret_hash'),
    ],
)  # fmt: skip
def test_an_entry_error_names_the_file_the_index_and_the_field(
    tmp_path: Path, operator_hash: str, bad: Any, expected: str
) -> None:
    if isinstance(bad, dict) and bad.get('secret_hash') == 'H':
        bad = {**bad, 'secret_hash': operator_hash}
    path = write(tmp_path / 'accounts.yaml', entries_with(operator_hash, bad))
    with pytest.raises(AccountError) as error:
        load_accounts(path)
    message = str(error.value)
    assert f'{path}: accounts[1]' in message
    assert expected in message


def test_the_role_error_lists_the_roles(tmp_path: Path, operator_hash: str) -> None:
    bad = {'name': 'bob', 'role': 'root', 'secret_hash': operator_hash}
    path = write(tmp_path / 'accounts.yaml', entries_with(operator_hash, bad))
    with pytest.raises(AccountError, match=r"expected \['viewer', 'operator'\]"):
        load_accounts(path)


def test_duplicate_names_are_refused_naming_the_file_and_the_name(
    tmp_path: Path, operator_hash: str
) -> None:
    bad = {'name': 'alice', 'role': 'viewer', 'secret_hash': operator_hash}
    path = write(tmp_path / 'accounts.yaml', entries_with(operator_hash, bad))
    with pytest.raises(AccountError) as error:
        load_accounts(path)
    message = str(error.value)
    assert str(path) in message
    # The module promises that every error names the file and the entry: the operator editing
    # the file needs to know which name is doubled.
    assert 'alice' in message


def test_a_hash_whose_scrypt_parameters_cannot_work_is_refused_on_load(
    tmp_path: Path, operator_hash: str
) -> None:
    # n must be a power of two: such a hash parses but every login with it raises ValueError
    # inside the server (a 500), so the file must be refused when it is read.
    parts = operator_hash.split('$')
    parts[1] = '3'
    bad = {'name': 'bob', 'role': 'viewer', 'secret_hash': '$'.join(parts)}
    path = write(tmp_path / 'accounts.yaml', entries_with(operator_hash, bad))
    with pytest.raises(AccountError) as error:
        load_accounts(path)
    assert f'{path}: accounts[1]' in str(error.value)


def test_a_name_with_a_trailing_newline_is_refused(tmp_path: Path, operator_hash: str) -> None:
    # '$' in the name pattern also matches before a final newline.
    bad = {'name': 'bob\n', 'role': 'viewer', 'secret_hash': operator_hash}
    path = write(tmp_path / 'accounts.yaml', entries_with(operator_hash, bad))
    with pytest.raises(AccountError, match=r'accounts\[1\]'):
        load_accounts(path)
    with pytest.raises(AccountError):
        account_entry('bob\n', 'viewer', VIEWER_SECRET)


@pytest.fixture(scope='module')
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp('names')


@settings(max_examples=150, deadline=None, database=None)
@given(name=st.text(st.characters(codec='utf-8'), max_size=70))
def test_a_name_outside_the_pattern_is_refused(
    scratch: Path, operator_hash: str, name: str
) -> None:
    assume(_VALID_NAME.fullmatch(name) is None)
    assume(not name.endswith('\n'))  # test_a_name_with_a_trailing_newline_is_refused
    text = yaml.safe_dump({'accounts': [{'name': name, 'role': 'viewer',
                                         'secret_hash': operator_hash}]})  # fmt: skip
    assume(yaml.safe_load(text)['accounts'][0]['name'] == name)
    path = scratch / 'accounts.yaml'
    path.write_text(text, encoding='utf-8')
    with pytest.raises(AccountError, match=r'accounts\[0\]: name'):
        load_accounts(path)


def test_account_entry_checks_like_the_loader() -> None:
    with pytest.raises(AccountError, match='name'):
        account_entry('1bad', 'viewer', VIEWER_SECRET)
    with pytest.raises(AccountError, match='role'):
        account_entry('good', 'superuser', VIEWER_SECRET)
    with pytest.raises(AccountError, match='at least'):
        account_entry('good', 'viewer', 'short')


# -- verification ------------------------------------------------------------------------------


def test_verify(book: AccountBook) -> None:
    alice = book.verify('alice', SECRET)
    assert alice is not None
    assert alice.name == 'alice'
    assert book.verify('alice', VIEWER_SECRET) is None
    assert book.verify('nobody', SECRET) is None
    assert book.verify('decoy', SECRET) is None
    assert book.verify('', '') is None


def test_two_accounts_of_one_name_are_refused(operator_hash: str) -> None:
    with pytest.raises(AccountError, match='share a name'):
        AccountBook([Account('a', Role.VIEWER, operator_hash),
                     Account('a', Role.OPERATOR, operator_hash)])  # fmt: skip


def test_the_secret_hash_is_not_in_the_repr(operator_hash: str) -> None:
    assert operator_hash not in repr(Account('alice', Role.OPERATOR, operator_hash))


# -- sessions ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def alice(operator_hash: str) -> Account:
    return Account('alice', Role.OPERATOR, operator_hash)


def test_a_session_is_found_by_its_token(alice: Account) -> None:
    clock = Clock()
    sessions = SessionBook(clock)
    session = sessions.open(alice)
    assert session.account is alice
    assert session.opened == session.last_seen == 1000.0
    assert sessions.check(session.token) is session
    assert sessions.check('not-a-token') is None
    assert sessions.check('') is None
    assert sessions.check(None) is None
    other = sessions.open(alice)
    assert other.token != session.token
    assert other.csrf != session.csrf
    assert session.csrf != session.token


def test_a_session_ends_when_idle(alice: Account) -> None:
    clock = Clock()
    sessions = SessionBook(clock, max_age=100.0, idle=10.0)
    session = sessions.open(alice)
    clock.now += 10.0  # exactly the idle time: still alive, and seen again
    assert sessions.check(session.token) is session
    assert session.last_seen == clock.now
    clock.now += 10.0
    assert sessions.check(session.token) is session
    clock.now += 10.5
    assert sessions.check(session.token) is None
    clock.now -= 10.5  # it is gone, not only hidden
    assert sessions.check(session.token) is None


def test_a_session_ends_at_its_maximum_age_however_busy(alice: Account) -> None:
    clock = Clock()
    sessions = SessionBook(clock, max_age=30.0, idle=10.0)
    session = sessions.open(alice)
    for _ in range(6):
        clock.now += 5.0
        assert sessions.check(session.token) is session
    clock.now += 0.5
    assert sessions.check(session.token) is None


def test_an_expired_session_is_dropped_when_another_opens(alice: Account) -> None:
    clock = Clock()
    sessions = SessionBook(clock, max_age=30.0, idle=10.0)
    old = sessions.open(alice)
    clock.now += 11.0
    new = sessions.open(alice)
    clock.now -= 11.0
    assert sessions.check(old.token) is None
    assert sessions.check(new.token) is new


def test_close_ends_a_session(alice: Account) -> None:
    clock = Clock()
    sessions = SessionBook(clock)
    session, other = sessions.open(alice), sessions.open(alice)
    sessions.close(session.token)
    assert sessions.check(session.token) is None
    assert sessions.check(other.token) is other
    sessions.close('unknown')
    sessions.close(None)
    assert sessions.check(other.token) is other
