"""The shape of the package: ROS-free cores under thin nodes.

Fails when a core package imports ROS (rclpy, message packages, the package's generated
interfaces) or the node layer, and when the shared domain types depend on anything but
themselves: perception, reasoner, simulator and HMI import ``domain/``, never ``safety/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'muse_supervisor'
# Cores: plain Python, unit-tested without a ROS context. A new core package is added here.
CORES = ('domain', 'safety', 'perception', 'reasoner', 'sim', 'hmi')
ROS_MODULES = ('rclpy', 'rosidl_runtime_py', 'launch', 'launch_ros', 'ament_index_python')
GENERATED = ('muse_supervisor.msg', 'muse_supervisor.srv', 'muse_supervisor.action')


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append('.' * node.level + (node.module or ''))
    return names


def _core_files() -> list[Path]:
    return [path for core in CORES for path in sorted((PACKAGE / core).rglob('*.py'))]


def _forbidden(name: str) -> str:
    top = name.split('.')[0]
    if top in ROS_MODULES or top.endswith('_msgs') or top.endswith('_interfaces'):
        return 'ROS'
    if name.startswith(GENERATED):
        return 'generated ROS interfaces'
    if name.startswith(('muse_supervisor.nodes', 'muse_supervisor.stack')):
        return 'the node layer'
    if name.startswith('muse_supervisor.params.ros'):
        return 'the rclpy parameter glue'
    if name.startswith('.'):
        return 'a relative import (name the package)'
    return ''


def test_there_are_core_files_to_check() -> None:
    assert len(_core_files()) >= 10, _core_files()


@pytest.mark.parametrize('path', _core_files(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_packages_import_no_ros_and_no_nodes(path: Path) -> None:
    bad = [f'{name} ({why})' for name in _imports(path) if (why := _forbidden(name))]
    assert not bad, f'{path.relative_to(PACKAGE)} imports {bad}'


@pytest.mark.parametrize('path', sorted((PACKAGE / 'domain').rglob('*.py')), ids=lambda p: p.name)
def test_domain_depends_on_nothing_but_itself(path: Path) -> None:
    ours = [n for n in _imports(path) if n.startswith('muse_supervisor.')]
    bad = [n for n in ours if not n.startswith('muse_supervisor.domain')]
    assert not bad, f'domain/{path.name} imports {bad}'


def test_the_checker_catches_what_it_should() -> None:
    """The rule itself: each kind of forbidden import is recognised."""
    forbidden = ('rclpy.node', 'std_msgs.msg', 'rcl_interfaces.msg', 'muse_supervisor.msg')
    forbidden += ('muse_supervisor.nodes.lifecycle', 'muse_supervisor.params.ros', '.gate')
    for name in forbidden:
        assert _forbidden(name), name
    for name in ('math', 'muse_supervisor.domain', 'muse_supervisor.params.spec', 'numpy'):
        assert not _forbidden(name), name


def test_importing_every_core_module_loads_no_ros() -> None:
    """The same rule at run time, through every indirect import (a fresh interpreter)."""
    import subprocess
    import sys

    modules = [
        '.'.join(path.relative_to(PACKAGE.parent).with_suffix('').parts).removesuffix('.__init__')
        for path in _core_files()
    ]
    probe = (
        f'import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n'
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rpyutils') "
        "or m.endswith(('.msg', '.srv', '.action'))))"
    )
    loaded = subprocess.run(
        [sys.executable, '-c', probe], capture_output=True, text=True, check=True,
        cwd=PACKAGE.parent,
    ).stdout.strip()  # fmt: skip
    assert loaded == '[]', loaded
