"""launch/supervisor.launch.py and launch/fleet.launch.py build their nodes from the declaration.

ROS 2 ``launch``/``launch_ros`` cannot be installed on these machines, so most tests run the
launch files against small recording stand-ins for the launch API and check every node and
argument they would give ``ros2 launch``; the last test loads them with the real ``launch_ros``
wherever that imports.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from muse_supervisor.stack import PACKAGE, STACK, StackError

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO / 'launch' / 'supervisor.launch.py'
FLEET_FILE = REPO / 'launch' / 'fleet.launch.py'
ARGUMENTS = {'namespace', 'config_dir', 'autostart', 'use_sim_time', 'log_level'}


class _Recorder:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class _Argument(_Recorder):
    @property
    def name(self) -> str:
        return str(self.args[0])


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: dict[str, str]) -> str:
        return context[self.name]


def _load(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> None:
    modules = {
        'launch': {'LaunchDescription': lambda actions: list(actions)},
        'launch.actions': {
            name: _Recorder
            for name in ('OpaqueFunction', 'Shutdown', 'GroupAction', 'IncludeLaunchDescription')
        }
        | {'DeclareLaunchArgument': _Argument},
        'launch.launch_description_sources': {'PythonLaunchDescriptionSource': _Recorder},
        'launch.substitutions': {'LaunchConfiguration': _LaunchConfiguration},
        'launch_ros': {},
        'launch_ros.actions': {'Node': _Recorder},
    }
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)


def _defaults(actions: list[Any]) -> dict[str, str]:
    return {a.name: a.kwargs['default_value'] for a in actions if isinstance(a, _Argument)}


def _robot_context(**overrides: str) -> dict[str, str]:
    context = {
        'namespace': 'robot_7',
        'config_dir': str(REPO / 'config'),
        'autostart': 'true',
        'use_sim_time': 'false',
        'log_level': 'info',
    }
    return context | overrides


@pytest.mark.usefixtures('stand_ins')
def test_launch_file_starts_every_declared_node() -> None:
    actions = _load(LAUNCH_FILE).generate_launch_description()
    arguments = _defaults(actions)
    assert set(arguments) == ARGUMENTS
    assert arguments['namespace'] == '' and arguments['autostart'] == 'true'
    assert arguments['use_sim_time'] == 'false' and arguments['log_level'] == 'info'
    assert Path(arguments['config_dir']).is_dir()

    opaque = actions[-1]
    nodes = opaque.kwargs['function'](_robot_context(config_dir=arguments['config_dir']))
    assert [n.kwargs['name'] for n in nodes] == [d.name for d in STACK]
    for node, declared in zip(nodes, STACK, strict=True):
        assert node.kwargs['package'] == PACKAGE
        assert node.kwargs['executable'] == declared.executable
        assert node.kwargs['namespace'] == '/robot_7'
        files, overrides = node.kwargs['parameters'][:-1], node.kwargs['parameters'][-1]
        assert files == [str(Path(arguments['config_dir']) / declared.params_file)]
        assert overrides == {'autostart': True}
        assert node.kwargs['remappings'] == list(declared.remappings)
        assert node.kwargs['ros_arguments'] == ['--log-level', 'info']


@pytest.mark.usefixtures('stand_ins')
def test_a_node_that_exits_shuts_the_launch_down() -> None:
    actions = _load(LAUNCH_FILE).generate_launch_description()
    for node in actions[-1].kwargs['function'](_robot_context()):
        shutdown = node.kwargs['on_exit']
        assert isinstance(shutdown, _Recorder), node.kwargs['name']
        assert f'/robot_7/{node.kwargs["name"]} exited' in shutdown.kwargs['reason']


@pytest.mark.usefixtures('stand_ins')
def test_sim_time_log_level_and_autostart_reach_every_node() -> None:
    actions = _load(LAUNCH_FILE).generate_launch_description()
    context = _robot_context(autostart='False', use_sim_time='true', log_level='DEBUG')
    for node in actions[-1].kwargs['function'](context):
        assert node.kwargs['parameters'][-1] == {'autostart': False, 'use_sim_time': True}
        assert node.kwargs['ros_arguments'] == ['--log-level', 'debug']
    with pytest.raises(ValueError, match="autostart:='yes': expected true or false"):
        actions[-1].kwargs['function'](_robot_context(autostart='yes'))
    with pytest.raises(ValueError, match="log_level:='loud'"):
        actions[-1].kwargs['function'](_robot_context(log_level='loud'))


@pytest.mark.usefixtures('stand_ins')
def test_fleet_launch_includes_one_robot_stack_per_namespace() -> None:
    actions = _load(FLEET_FILE).generate_launch_description()
    arguments = _defaults(actions)
    assert set(arguments) == (ARGUMENTS - {'namespace'}) | {'robots'}
    context = _robot_context(robots='robot_1, robot_2 site_b/robot_3', log_level='warn')
    groups = actions[-1].kwargs['function'](context)
    included = []
    for group in groups:
        assert group.kwargs['scoped'] is True
        (include,) = group.args[0]
        assert include.args[0].args[0] == str(LAUNCH_FILE)
        included.append(dict(include.kwargs['launch_arguments']))
    assert [i['namespace'] for i in included] == ['robot_1', 'robot_2', 'site_b/robot_3']
    assert all(i['log_level'] == 'warn' and i['autostart'] == 'true' for i in included)


@pytest.mark.usefixtures('stand_ins')
def test_fleet_launch_refuses_a_robot_named_twice() -> None:
    actions = _load(FLEET_FILE).generate_launch_description()
    with pytest.raises(StackError, match='given twice'):
        actions[-1].kwargs['function'](_robot_context(robots='robot_1 /robot_1'))


@pytest.mark.usefixtures('stand_ins')
def test_every_launch_argument_is_described_and_documented() -> None:
    documented = (REPO / 'docs' / 'RUNNING.md').read_text()
    for path in (LAUNCH_FILE, FLEET_FILE):
        for argument in _load(path).generate_launch_description():
            if not isinstance(argument, _Argument):
                continue
            assert len(argument.kwargs.get('description', '')) > 20, argument.name
            assert re.search(rf'^\| `{argument.name}` \|', documented, re.M), (
                f'{path.name}: argument {argument.name} is not in the table of docs/RUNNING.md'
            )


def test_launch_files_with_real_launch_ros() -> None:
    pytest.importorskip('launch_ros', reason='launch_ros is not installable from PyPI here')
    from launch import LaunchDescription

    for path in (LAUNCH_FILE, FLEET_FILE):
        assert isinstance(_load(path).generate_launch_description(), LaunchDescription)
