"""Lint, formatting and type checks are part of the test suite: a failure here fails the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.prefix) / 'bin'


@pytest.mark.parametrize(
    'command',
    [
        ['ruff', 'check', '.'],
        ['ruff', 'format', '--check', '.'],
        # mypy runs against this environment's rclpy: Jazzy's or Kilted's, whichever is tested.
        ['mypy'],
    ],
    ids=['ruff-check', 'ruff-format', 'mypy'],
)
def test_clean(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
