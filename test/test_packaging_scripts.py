"""The set-up scripts and the environment they build: clean usage errors, one rclpy.

The usage errors are checked before anything is set up (they exit at once); the rclpy check
looks at the environment this test runs in, which tools/setup.sh built.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = ['run.sh', 'test.sh', 'tools/setup.sh']


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ['bash', str(REPO / script), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={'PATH': '/usr/bin:/bin'},
    )


@pytest.mark.parametrize('script', SCRIPTS)
@pytest.mark.parametrize('args', [['--distro'], ['--distro', '--dev'], ['--distro=']])
def test_distro_without_a_value_is_a_plain_usage_error(script: str, args: list[str]) -> None:
    result = _run(script, *args)
    assert result.returncode == 2, result.stderr
    name = Path(script).name.removesuffix('.sh') if script.startswith('tools') else script
    assert result.stderr.startswith(f'{name}: '), result.stderr
    assert 'jazzy (default) or kilted' in result.stderr
    assert 'line ' not in result.stderr  # no shell error


@pytest.mark.parametrize('script', SCRIPTS)
def test_an_unknown_distro_is_named(script: str) -> None:
    result = _run(script, '--distro', 'humble')
    assert result.returncode == 2
    assert "unsupported ROS 2 distribution 'humble'" in result.stderr


def _distro() -> str:
    name = Path(sys.prefix).name
    if name not in ('jazzy', 'kilted'):
        pytest.skip(f'not a venv made by tools/setup.sh: {sys.prefix}')
    return name


def test_exactly_one_rclpy_the_pinned_one() -> None:
    distro = _distro()
    pins = (REPO / 'requirements' / f'ros-{distro}.txt').read_text()
    pinned = re.search(r'^ros-rclpy==(\S+)$', pins, re.M)
    assert pinned, f'requirements/ros-{distro}.txt must pin the ros-rclpy wheel itself'
    result = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'rclpy_version.py')],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f'more than one rclpy distribution: {result.stdout}'
    assert result.stdout.startswith(f'rclpy from ros-rclpy {pinned[1]} '), result.stdout
