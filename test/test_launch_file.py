"""launch/supervisor.launch.py builds its nodes from the stack declaration.

ROS 2 ``launch``/``launch_ros`` cannot be installed on these machines, so the first test runs the
launch file against small recording stand-ins for the launch API and checks every node it would
start; the second runs it with the real ``launch_ros`` wherever that imports.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from muse_supervisor.stack import PACKAGE, STACK

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'supervisor.launch.py'


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: dict[str, str]) -> str:
        return context[self.name]


def _load_with_stand_ins(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    stand_ins = {
        'launch': {'LaunchDescription': lambda actions: list(actions)},
        'launch.actions': {'DeclareLaunchArgument': _Recorder, 'OpaqueFunction': _Recorder},
        'launch.substitutions': {'LaunchConfiguration': _LaunchConfiguration},
        'launch_ros': {},
        'launch_ros.actions': {'Node': _Recorder},
    }
    for name, attributes in stand_ins.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location('supervisor_launch', LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_launch_file_starts_every_declared_node(monkeypatch: pytest.MonkeyPatch) -> None:
    launch_file = _load_with_stand_ins(monkeypatch)
    actions = launch_file.generate_launch_description()
    arguments = {a.args[0]: a.kwargs['default_value'] for a in actions[:-1]}
    assert arguments['namespace'] == '' and arguments['autostart'] == 'true'
    assert Path(arguments['config_dir']).is_dir()

    opaque = actions[-1]
    context = {'namespace': 'robot_7', 'config_dir': arguments['config_dir'], 'autostart': 'true'}
    nodes = opaque.kwargs['function'](context)
    assert [n.kwargs['name'] for n in nodes] == [d.name for d in STACK]
    for node, declared in zip(nodes, STACK, strict=True):
        assert node.kwargs['package'] == PACKAGE
        assert node.kwargs['executable'] == declared.executable
        assert node.kwargs['namespace'] == '/robot_7'
        files, overrides = node.kwargs['parameters'][:-1], node.kwargs['parameters'][-1]
        assert files == [str(Path(arguments['config_dir']) / declared.params_file)]
        assert overrides == {'autostart': True}
        assert node.kwargs['remappings'] == list(declared.remappings)


def test_launch_file_with_real_launch_ros() -> None:
    pytest.importorskip('launch_ros', reason='launch_ros is not installable from PyPI here')
    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location('supervisor_launch', LAUNCH_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    assert isinstance(description, LaunchDescription)
