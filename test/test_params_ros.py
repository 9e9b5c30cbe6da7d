"""Parameter handling of a real node process: what a user who mistypes a parameter file sees.

Each test starts the installed ``safety_gate_node`` (every node shares the same checks in
``SupervisorNode``) with a parameter file of its own, as a user would, and reads what the process
says. A bad file must make the node refuse to configure, say exactly what was wrong and, with
``autostart``, exit with status 1; never configure on defaults, never end in a traceback.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gate_harness import GATE, REPO, TIMEOUT, stop_process, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.slow]

SHIPPED = (REPO / 'config' / 'safety_gate.yaml').read_text()


class _Process:
    """A node process whose output (stdout and stderr together) is collected as it comes."""

    def __init__(self, command: list[str]) -> None:
        self.popen = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return ''.join(self.lines)

    def wait_exit(self) -> int:
        status = self.popen.wait(timeout=TIMEOUT)
        self._reader.join(timeout=5)
        return status

    def stop(self) -> str:
        stop_process(self.popen)
        self._reader.join(timeout=5)
        return self.output


@pytest.fixture
def namespace() -> str:
    return f'/params_{uuid.uuid4().hex[:8]}'


@pytest.fixture
def started() -> Iterator[list[_Process]]:
    processes: list[_Process] = []
    yield processes
    for process in processes:
        process.stop()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / 'gate.yaml'
    path.write_text(text)
    return path


def _start(started: list[_Process], namespace: str, *ros_args: str) -> _Process:
    command = [str(GATE), '--ros-args', '-r', f'__ns:={namespace}', *ros_args]
    process = _Process(command)
    started.append(process)
    return process


def _refused(started: list[_Process], namespace: str, params_file: Path) -> str:
    """Start the gate with ``params_file`` and autostart; expect status 1; return its output."""
    process = _start(
        started, namespace, '--params-file', str(params_file), '-p', 'autostart:=true'
    )
    status = process.wait_exit()
    output = process.output
    assert status == 1, output
    assert 'Traceback' not in output, output
    assert 'configured: ' not in output, output  # never configured on defaults
    return output


@pytest.mark.parametrize(
    ('old', 'new', 'unknown', 'closest'),
    [
        ('max_linear_speed: 0.5', 'max_linear_sped: 0.2', 'max_linear_sped', 'max_linear_speed'),
        # A nested parameter of the gate's command sources (declared from command_sources).
        (
            'command_sources.teleop.timeout: 0.5', 'command_sources.teleop.timeot: 0.2',
            'command_sources.teleop.timeot', 'command_sources.teleop.timeout',
        ),
    ],
    ids=['scalar', 'nested'],
)  # fmt: skip
def test_misspelt_parameter_refuses_to_configure_and_names_the_closest_name(
    tmp_path: Path,
    namespace: str,
    started: list[_Process],
    old: str,
    new: str,
    unknown: str,
    closest: str,
) -> None:
    text = SHIPPED.replace(f'    {old}\n', f'    {new}\n')
    assert text != SHIPPED
    output = _refused(started, namespace, _write(tmp_path, text))
    assert f'unknown parameter {unknown} (set in {tmp_path}' in output, output
    assert f'did you mean {closest}?' in output, output


def test_parameter_file_without_a_section_for_the_node_refuses_to_configure(
    tmp_path: Path, namespace: str, started: list[_Process]
) -> None:
    path = _write(tmp_path, SHIPPED.replace('/**/safety_gate:', '/**/safety_gat:'))
    output = _refused(started, namespace, path)
    assert str(path) in output, output
    assert "['/**/safety_gat']" in output, output  # the sections the file has
    assert f'{namespace}/safety_gate' in output, output  # and the node's full name


def test_value_of_the_wrong_type_is_refused_naming_the_parameter_not_a_traceback(
    tmp_path: Path, namespace: str, started: list[_Process]
) -> None:
    text = SHIPPED.replace('    max_linear_speed: 0.5\n', '    max_linear_speed: "fast"\n')
    output = _refused(started, namespace, _write(tmp_path, text))
    assert "parameter max_linear_speed: got 'fast' (string), expected a number" in output, output
    assert 'command_sources' not in output, output  # today's traceback named another parameter


@pytest.mark.parametrize(
    ('old', 'new', 'said'),
    [
        # A scalar where the gate expects a list: list(5) raised, and rclpy swallowed it.
        ('command_sources: ["nav", "teleop"]', 'command_sources: 5',
         'parameter command_sources: got 5, expected a list of names'),
        # A list rcl itself cannot read: rclpy.init raised, with a traceback.
        ('max_linear_speed: 0.5', 'max_linear_speed: [1, "a"]', 'cannot start: '),
    ],
    ids=['scalar-for-list', 'mixed-list'],
)  # fmt: skip
def test_value_of_another_shape_is_refused_without_a_traceback(
    tmp_path: Path, namespace: str, started: list[_Process], old: str, new: str, said: str
) -> None:
    text = SHIPPED.replace(f'    {old}\n', f'    {new}\n')
    assert text != SHIPPED
    output = _refused(started, namespace, _write(tmp_path, text))
    assert said in output, output


def test_value_out_of_range_is_refused_in_plain_words(
    tmp_path: Path, namespace: str, started: list[_Process]
) -> None:
    text = SHIPPED.replace('    max_linear_speed: 0.5\n', '    max_linear_speed: 9.0\n')
    output = _refused(started, namespace, _write(tmp_path, text))
    assert 'parameter max_linear_speed: got 9.0 (number), expected a number in [0.01, 5.0]' in (
        output
    ), output
    assert 'Invalid parameter value' not in output, output  # rclpy's own wording


def test_configure_logs_each_value_and_where_it_came_from(
    tmp_path: Path, namespace: str, started: list[_Process]
) -> None:
    path = _write(tmp_path, '/**/safety_gate:\n  ros__parameters:\n    max_linear_speed: 0.3\n')
    process = _start(
        started, namespace, '--params-file', str(path), '-p', 'autostart:=true',
        '-p', 'max_angular_speed:=0.8',
    )  # fmt: skip
    line = wait_for(
        lambda: next((li for li in process.lines if ']: parameters: ' in li), None),
        what='parameters line',
    )
    assert 'max_linear_speed=0.3 (file)' in line, line
    assert 'max_angular_speed=0.8 (command line)' in line, line
    assert 'rate_hz=20.0 (default)' in line, line
    wait_for(lambda: 'active' in process.output, what='active')
    assert 'unconfigured: waiting' not in process.stop()


def test_unconfigured_node_says_so_at_start_and_keeps_saying_it(
    namespace: str, started: list[_Process]
) -> None:
    process = _start(started, namespace, '--params-file', str(REPO / 'config/safety_gate.yaml'))
    wait_for(lambda: 'unconfigured: waiting for a lifecycle manager' in process.output)
    line = next(li for li in process.lines if 'unconfigured: waiting' in li)
    assert line.startswith('[WARN]'), line
    assert 'autostart:=true' in line and 'publishing nothing' in line, line
    assert process.popen.poll() is None  # it stays up, waiting


# One parameter per section form, so the overrides rclpy gives a node show which sections applied.
_SECTIONS = """
/**: {ros__parameters: {a: 1}}
/*: {ros__parameters: {b: 1}}
safety_gate: {ros__parameters: {c: 1}}
/safety_gate: {ros__parameters: {d: 1}}
/robot_1/safety_gate: {ros__parameters: {e: 1}}
robot_1/safety_gate: {ros__parameters: {f: 1}}
/**/safety_gate: {ros__parameters: {g: 1}}
/*/safety_gate: {ros__parameters: {h: 1}}
/robot_1/*: {ros__parameters: {i: 1}}
/robot_1/**: {ros__parameters: {j: 1}}
robot_1: {safety_gate: {ros__parameters: {k: 1}}}
/**/a/safety_gate: {ros__parameters: {m: 1}}
/**/safety_gat: {ros__parameters: {n: 1}}
"""


@pytest.mark.parametrize('node_namespace', ['/', '/robot_1', '/robot_1/a', '/other'])
def test_section_matching_agrees_with_rclpy(
    ros_context: Any, tmp_path: Path, node_namespace: str
) -> None:
    from rclpy.node import Node

    from muse_supervisor.params.files import file_values, read_params_file
    from muse_supervisor.params.ros import parameter_overrides

    path = tmp_path / 'sections.yaml'
    path.write_text(_SECTIONS)
    node = Node(
        'safety_gate',
        namespace=node_namespace,
        context=ros_context,
        cli_args=['--ros-args', '--params-file', str(path)],
    )
    try:
        applied = set(parameter_overrides(node))
        predicted = set(
            file_values([read_params_file(str(path))], node.get_fully_qualified_name())
        )
    finally:
        node.destroy_node()
    assert predicted == applied
