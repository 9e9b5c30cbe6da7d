"""The one declaration of the stack, resolved for robots and checked against the build."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from muse_supervisor.stack import STACK, StackError, fleet_plan, launch_plan
from muse_supervisor.stack.declaration import normalize_namespace

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / 'config'
EXECUTABLES = {
    'perception_node', 'reasoner_node', 'plan_simulator_node', 'safety_gate_node',
    'hmi_bridge_node', 'sim_world_node',
}  # fmt: skip


def _cmake_entry_points() -> dict[str, str]:
    text = (REPO / 'CMakeLists.txt').read_text()
    block = re.search(r'set\(_entry_points(.*?)\)', text, re.S)
    assert block is not None
    return dict(item.split(':') for item in block.group(1).split())


def _setup_py_entry_points() -> dict[str, str]:
    text = (REPO / 'setup.py').read_text()
    pairs = re.findall(r"'([\w-]+) = ([\w.]+):main'", text)
    return dict(pairs)


def test_stack_has_the_six_executables_of_the_package() -> None:
    assert {node.executable for node in STACK} == EXECUTABLES
    assert len({node.name for node in STACK}) == len(STACK)


def test_cmake_setup_py_and_declaration_agree_on_executables() -> None:
    cmake = _cmake_entry_points()
    assert cmake == _setup_py_entry_points()
    assert set(cmake) == EXECUTABLES | {'muse-supervisor'}
    for name, module in cmake.items():
        source = REPO / (module.replace('.', '/') + '.py')
        assert 'def main(' in source.read_text(), f'{module} has no main() for {name}'


def test_executables_are_installed_for_ros2_run_and_on_path() -> None:
    prefix = Path(sys.prefix)
    for executable in EXECUTABLES | {'muse-supervisor'}:
        assert (prefix / 'lib' / 'muse_supervisor' / executable).is_file()
        assert (prefix / 'bin' / executable).is_file()


def test_plan_for_one_robot_names_wires_and_configures_every_node() -> None:
    plan = launch_plan(CONFIG, 'robot_1')
    assert [launch.declaration for launch in plan] == list(STACK)
    gate = next(launch for launch in plan if launch.declaration.name == 'safety_gate')
    assert gate.fully_qualified_name == '/robot_1/safety_gate'
    assert gate.ros_arguments() == [
        '--ros-args',
        '-r', '__node:=safety_gate',
        '-r', '__ns:=/robot_1',
        '--params-file', str(CONFIG / 'safety_gate.yaml'),
        '-p', 'autostart:=true',
    ]  # fmt: skip
    perception = next(launch for launch in plan if launch.declaration.name == 'perception')
    assert perception.ros_arguments()[-2:] == ['-r', 'image:=camera/image_raw']


def test_a_fleet_gets_one_stack_per_robot_without_name_clashes() -> None:
    names = [
        launch.fully_qualified_name
        for robot in ('robot_1', 'robot_2', 'site_a/robot_3')
        for launch in launch_plan(CONFIG, robot)
    ]
    assert len(names) == len(set(names)) == 3 * len(STACK)
    assert '/site_a/robot_3/reasoner' in names


def test_a_fleet_has_one_hmi_that_serves_every_robot() -> None:
    plan = fleet_plan(CONFIG, ['robot_1', 'robot_2'])
    hmis = [node for node in plan if node.declaration.name == 'hmi_bridge']
    assert [node.fully_qualified_name for node in hmis] == ['/robot_1/hmi_bridge']
    assert ('robots', '/robot_1,/robot_2') in hmis[0].parameters
    assert len(plan) == 2 * len(STACK) - 1
    alone = [n for n in fleet_plan(CONFIG, ['robot_1']) if n.declaration.name == 'hmi_bridge']
    assert dict(alone[0].parameters).get('robots') is None  # one robot: its own namespace


@pytest.mark.parametrize(
    ('given', 'expected'), [('', '/'), ('/', '/'), ('robot_1', '/robot_1'), ('/a/b/', '/a/b')]
)
def test_namespace_normalisation(given: str, expected: str) -> None:
    assert normalize_namespace(given) == expected


@pytest.mark.parametrize('bad', ['robot-1', '1robot', 'a//b', 'robot 1', 'ns/../x'])
def test_invalid_namespace_is_refused_with_an_example(bad: str) -> None:
    with pytest.raises(StackError, match=r"e\.g\. 'robot_1'"):
        launch_plan(CONFIG, bad)


def test_only_restricts_the_stack_and_rejects_unknown_names() -> None:
    assert [launch.declaration.name for launch in launch_plan(CONFIG, only=('safety_gate',))] == [
        'safety_gate'
    ]
    with pytest.raises(StackError, match=r"unknown node\(s\) \['gate'\]"):
        launch_plan(CONFIG, only=('gate',))


def test_missing_parameter_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r'safety_gate\.yaml'):
        launch_plan(tmp_path)


def test_the_reasoners_list_of_supervisor_loggers_is_the_stack_less_the_simulated_robot() -> None:
    # The reasoner core may not import the stack (node layer), so it keeps the names itself.
    from muse_supervisor.reasoner.facts import SUPERVISOR_LOGGERS

    assert {node.name for node in STACK} - {'sim_world'} == SUPERVISOR_LOGGERS
