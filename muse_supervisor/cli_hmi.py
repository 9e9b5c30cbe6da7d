"""``muse-supervisor hmi-account`` (HMI accounts) and ``report`` (reports from a recording)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from muse_supervisor.hmi.accounts import AccountError, account_entry, load_accounts


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hmi-account``."""
    text = 'add or replace an operator HMI account (name, role, scrypt hash of its secret)'
    account = commands.add_parser('hmi-account', help=text, description=text)
    account.add_argument('name', help='account name: a letter, then letters, digits, _ . -')
    account.add_argument('--role', choices=('viewer', 'operator'), default='viewer')
    account.add_argument(
        '--file', type=Path, required=True, help="accounts file (hmi_bridge's accounts_file)"
    )
    account.add_argument(
        '--secret-stdin', action='store_true',
        help='read the secret from standard input (for scripts) instead of asking twice',
    )  # fmt: skip

    text = 'write a printable HTML report per incident of an incident recording (MCAP)'
    report = commands.add_parser('report', help=text, description=text)
    report.add_argument('file', type=Path, metavar='FILE.mcap', help='an incident recording')
    report.add_argument('--out', type=Path, help='folder for the reports (default: beside FILE)')
    report.add_argument('--incident', help='only this incident id')
    report.add_argument('--world', type=Path, help='world file for the map (default: installed)')


def run_report(args: argparse.Namespace) -> int:
    """Write ``<out>/<incident>.html`` per incident and an index; 2 for a bad file or id."""
    from muse_supervisor.recording.report import RecordingReportError, write_reports

    try:
        written = write_reports(args.file, args.out, args.incident, args.world)
    except RecordingReportError as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def run(args: argparse.Namespace) -> int:
    """Write the entry; 2 with a message for a bad name, role, secret or file."""
    try:
        if args.secret_stdin:
            secret = sys.stdin.readline().rstrip('\n')
        else:
            secret = getpass.getpass(f'secret for {args.name}: ')
            if getpass.getpass('again: ') != secret:
                raise AccountError('the two secrets differ')
        entry = account_entry(args.name, args.role, secret)
        entries = []
        if args.file.exists():
            load_accounts(args.file)  # refuse to extend a file that would not load
            entries = yaml.safe_load(args.file.read_text(encoding='utf-8'))['accounts']
        replaced = any(e.get('name') == args.name for e in entries)
        entries = [e for e in entries if e.get('name') != args.name] + [entry]
        args.file.parent.mkdir(parents=True, exist_ok=True)
        partial = args.file.with_name(args.file.name + '.part')
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w', encoding='utf-8') as file:
            yaml.safe_dump({'accounts': entries}, file, sort_keys=False)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(args.file)  # a crash leaves the old file or the new, never half of one
    except (AccountError, OSError) as error:
        print(f'muse-supervisor: error: {error}', file=sys.stderr)
        return 2
    print(f'{"replaced" if replaced else "added"} {args.role} {args.name!r} in {args.file}')
    return 0
