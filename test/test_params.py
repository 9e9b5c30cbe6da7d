"""Parameters: one declaration drives validation, the YAML files and the ROS descriptors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from muse_supervisor.nodes.hmi_bridge_node import HmiBridgeConfig
from muse_supervisor.nodes.perception_node import PerceptionConfig
from muse_supervisor.nodes.plan_simulator_node import PlanSimulatorConfig
from muse_supervisor.nodes.reasoner_node import ReasonerConfig
from muse_supervisor.nodes.safety_gate_node import SafetyGateNode
from muse_supervisor.nodes.sim_world_node import SimWorldConfig
from muse_supervisor.params import ConfigError, from_mapping, param, param_infos
from muse_supervisor.safety.config import GateConfig, GateLimits, gate_config_from_parameters
from muse_supervisor.stack import STACK

REPO = Path(__file__).resolve().parents[1]

CONFIGS: dict[str, type] = {
    'safety_gate': GateLimits,
    'perception': PerceptionConfig,
    'reasoner': ReasonerConfig,
    'plan_simulator': PlanSimulatorConfig,
    'hmi_bridge': HmiBridgeConfig,
    'sim_world': SimWorldConfig,
}


@dataclass(frozen=True)
class _Example:
    speed: float = param(0.5, 'Top speed (m/s).', minimum=0.0, maximum=2.0, read_only=True)
    mode: str = param('instant', 'Mode.', choices=('instant', 'thinking'))
    count: int = param(3, 'Count.', minimum=1, maximum=16)
    enabled: bool = param(True, 'Enabled.')


def test_defaults_and_integer_for_float_are_accepted() -> None:
    assert from_mapping(_Example, {}) == _Example()
    assert from_mapping(_Example, {'speed': 1}).speed == 1.0


@pytest.mark.parametrize(
    ('values', 'message'),
    [
        ({'speed': 2.5}, 'parameter speed: got 2.5 (number), expected a number in [0.0, 2.0]'),
        ({'speed': -0.1}, 'got -0.1 (number), expected a number in [0.0, 2.0]: Top speed (m/s).'),
        ({'speed': math.nan}, 'got nan (number), expected a finite number in [0.0, 2.0]'),
        ({'speed': math.inf}, 'got inf (number), expected a finite number in [0.0, 2.0]'),
        ({'speed': '0.5'}, "got '0.5' (string), expected a number in [0.0, 2.0]"),
        ({'count': True}, 'parameter count: got True (bool), expected an integer in [1, 16]'),
        ({'enabled': 1}, 'parameter enabled: got 1 (integer), expected true or false'),
        ({'mode': 'fast'}, "got 'fast' (string), expected one of 'instant', 'thinking'"),
        ({'sped': 0.3}, 'unknown parameter sped: '),
    ],
)
def test_invalid_values_are_refused_with_what_was_expected(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        from_mapping(_Example, values)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ('value', 'message'),
    [
        (
            'fast',
            "parameter max_linear_speed: got 'fast' (string), expected a number in [0.01, 5.0]",
        ),
        (9.0, 'parameter max_linear_speed: got 9.0 (number), expected a number in [0.01, 5.0]'),
        ([0.5], 'parameter max_linear_speed: got [0.5] (list), expected a number in [0.01, 5.0]'),
    ],
)
def test_every_refusal_names_the_parameter_the_value_and_what_was_expected(
    value: Any, message: str
) -> None:
    # Fails before the fix: a wrong type said only "expected float", without the range or units.
    info = {i.name: i for i in param_infos(GateLimits)}['max_linear_speed']
    with pytest.raises(ConfigError) as error:
        info.check(value)
    assert str(error.value).startswith(message), error.value
    assert '(m/s)' in str(error.value)  # the description, with its unit


def test_every_field_must_be_declared_with_param() -> None:
    @dataclass(frozen=True)
    class Undeclared:
        speed: float = 0.5

    with pytest.raises(TypeError, match='not declared with param'):
        param_infos(Undeclared)


@pytest.mark.parametrize('node', STACK, ids=lambda n: n.name)
def test_shipped_parameter_files_are_complete_and_valid(node: Any) -> None:
    document = yaml.safe_load((REPO / 'config' / node.params_file).read_text())
    assert list(document) == [f'/**/{node.name}']
    values = document[f'/**/{node.name}']['ros__parameters']
    config_type = CONFIGS[node.name]
    # Every parameter appears in the file, so the file documents the node completely.
    scalars = {name for name in values if '.' not in name and not isinstance(values[name], list)}
    assert scalars == {info.name for info in param_infos(config_type)}
    if node.name == 'safety_gate':
        config = gate_config_from_parameters(values)
        assert [s.topic for s in config.sources] == ['cmd_vel_nav', 'cmd_vel_teleop']
    else:
        from_mapping(config_type, values)


def test_safety_parameters_are_read_only() -> None:
    infos = {info.name: info for info in param_infos(GateLimits)}
    assert all(info.read_only for info in infos.values())
    assert (
        infos['heartbeat_timeout'].minimum is not None and infos['heartbeat_timeout'].minimum > 0
    )


@pytest.mark.ros
def test_node_declares_descriptors_and_refuses_bad_changes(ros_context: Any) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    node = SafetyGateNode(context=ros_context)
    try:
        descriptor = node.describe_parameter('heartbeat_timeout')
        assert descriptor.read_only
        assert descriptor.floating_point_range[0].from_value == pytest.approx(0.01)
        assert 'heartbeat' in descriptor.description
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.config == GateConfig()
        refused = node.set_parameters([Parameter('heartbeat_timeout', value=2.0)])[0]
        assert not refused.successful  # read-only at run time
        assert node.get_parameter('heartbeat_timeout').value == 0.5
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_invalid_override_refuses_to_configure(ros_context: Any) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    node = SafetyGateNode(
        context=ros_context, parameter_overrides=[Parameter('heartbeat_timeout', value=0.0)]
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.config is None
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_run_time_change_is_validated_as_a_whole(ros_context: Any) -> None:
    from rclpy.parameter import Parameter

    from muse_supervisor.nodes.reasoner_node import ReasonerNode

    node = ReasonerNode(context=ros_context)
    try:
        bad = node.set_parameters([Parameter('mode', value='fast')])[0]
        assert not bad.successful and 'expected one of' in bad.reason
        assert node.set_parameters([Parameter('candidates', value=8)])[0].successful
        assert node.get_parameter('candidates').value == 8
    finally:
        node.destroy_node()


# ----- overrides that name no declared parameter (ROS would ignore them) ----------------------
GATE_NAMES = [
    *(info.name for info in param_infos(GateLimits)),
    'autostart', 'use_sim_time', 'command_sources', 'keep_out_zones', 'waypoints',
    'command_sources.teleop.topic', 'command_sources.teleop.priority',
    'command_sources.teleop.timeout', 'waypoints.dock_1.pose',
]  # fmt: skip


@pytest.mark.parametrize(
    ('given', 'message'),
    [
        ('max_linear_sped', 'unknown parameter max_linear_sped: '),
        ('max_linear_sped', 'did you mean max_linear_speed?'),
        ('command_sources.teleop.timeot', 'did you mean command_sources.teleop.timeout?'),
        ('heartbeat_timout', 'did you mean heartbeat_timeout?'),
        # A nested entry its list parameter does not name: say how to declare it.
        ('keep_out_zones.aisle_4.polygon', "keep_out_zones does not list 'aisle_4'"),
        ('zzz', 'no declared parameter has a similar name'),
    ],
)
def test_unknown_override_is_named_with_the_closest_known_name(given: str, message: str) -> None:
    from muse_supervisor.params.spec import unknown_parameters

    errors = unknown_parameters(GATE_NAMES, ['max_linear_speed', given])
    assert len(errors) == 1 and message in errors[0], errors


def test_unknown_override_says_where_it_was_set() -> None:
    from muse_supervisor.params.spec import unknown_parameters

    errors = unknown_parameters(GATE_NAMES, ['rate_hzz'], {'rate_hzz': '/tmp/gate.yaml'})
    assert errors[0].startswith('unknown parameter rate_hzz (set in /tmp/gate.yaml): '), errors


def test_declared_and_standard_parameters_are_not_unknown() -> None:
    from muse_supervisor.params.spec import unknown_parameters

    given = [
        *GATE_NAMES, 'use_sim_time', 'start_type_description_service',
        'qos_overrides./cmd_vel.publisher.reliability',
    ]  # fmt: skip
    assert unknown_parameters(GATE_NAMES, given) == []


# ----- parameter files and their sections, as ROS matches them --------------------------------
@pytest.mark.parametrize(
    ('section', 'node', 'applies'),
    [
        # Measured with rclpy 7.1 (Jazzy): which sections rclpy applied to which node.
        ('/**', '/safety_gate', True),
        ('/**', '/robot_1/a/safety_gate', True),
        ('/*', '/safety_gate', True),
        ('/*', '/robot_1/safety_gate', False),
        ('safety_gate', '/safety_gate', True),
        ('safety_gate', '/robot_1/safety_gate', False),
        ('/safety_gate', '/safety_gate', True),
        ('/robot_1/safety_gate', '/robot_1/safety_gate', True),
        ('robot_1/safety_gate', '/robot_1/safety_gate', True),
        ('/**/safety_gate', '/safety_gate', True),
        ('/**/safety_gate', '/robot_1/safety_gate', True),
        ('/**/safety_gate', '/robot_1/a/safety_gate', True),
        ('/*/safety_gate', '/robot_1/safety_gate', True),
        ('/*/safety_gate', '/safety_gate', False),
        ('/robot_1/*', '/robot_1/safety_gate', True),
        ('/robot_1/**', '/robot_1/a/safety_gate', True),
        ('/**/safety_gat', '/robot_1/safety_gate', False),
        ('/**/safety_gate', '/robot_1/safety_gate_inputs', False),
        ('/**/a/safety_gate', '/robot_1/safety_gate', False),
        ('/robot.1/safety_gate', '/robotx1/safety_gate', False),  # literal, not a regex
    ],
)
def test_sections_apply_by_ros_wildcard_rules(section: str, node: str, applies: bool) -> None:
    from muse_supervisor.params.files import section_applies

    assert section_applies(section, node) is applies


def test_params_file_sections_nest_namespaces_and_flatten_parameters(tmp_path: Path) -> None:
    from muse_supervisor.params.files import read_params_file

    path = tmp_path / 'p.yaml'
    path.write_text(
        'robot_1:\n  safety_gate:\n    ros__parameters:\n      rate_hz: 10.0\n'
        '      command_sources:\n        nav: {timeout: 0.2}\n'
        '/**:\n  ros__parameters: {use_sim_time: true}\n'
    )
    sections = read_params_file(str(path)).sections
    assert sections == {
        'robot_1/safety_gate': {'rate_hz': 10.0, 'command_sources.nav.timeout': 0.2},
        '/**': {'use_sim_time': True},
    }


def test_unreadable_params_file_is_a_config_error(tmp_path: Path) -> None:
    from muse_supervisor.params.files import read_params_file

    with pytest.raises(ConfigError, match='cannot be read'):
        read_params_file(str(tmp_path / 'missing.yaml'))


def test_file_none_of_whose_sections_applies_is_refused_naming_file_sections_and_node() -> None:
    from muse_supervisor.params.files import ParamsFile, sections_error

    wrong = ParamsFile('/cfg/gate.yaml', {'/**/safety_gat': {'rate_hz': 10.0}})
    other = ParamsFile('/cfg/other.yaml', {'/**/reasoner': {}, '/*/hmi_bridge': {}})
    message = sections_error([wrong, other], '/robot_1/safety_gate')
    assert message is not None
    assert "/cfg/gate.yaml has sections ['/**/safety_gat']" in message
    assert "/cfg/other.yaml has sections ['/**/reasoner', '/*/hmi_bridge']" in message
    assert 'applies to this node, /robot_1/safety_gate,' in message
    assert '/**/safety_gate' in message  # what would have applied


def test_files_are_fine_when_one_section_applies_or_no_file_is_given() -> None:
    from muse_supervisor.params.files import ParamsFile, sections_error

    good = ParamsFile('/cfg/gate.yaml', {'/**/safety_gate': {}})
    other = ParamsFile('/cfg/other.yaml', {'/**/reasoner': {}})
    assert sections_error([other, good], '/robot_1/safety_gate') is None
    assert sections_error([], '/robot_1/safety_gate') is None


def test_ros_arguments_give_params_files_and_command_line_parameters() -> None:
    from muse_supervisor.params.files import command_line_parameters, params_file_paths

    argv = [
        'prog', '--params-file', 'not_ros.yaml', '--ros-args', '-r', '__ns:=/r1',
        '--params-file', 'a.yaml', '-p', 'autostart:=true', '--param', 'rate_hz:=10.0',
        '-p', 'safety_gate:max_wait:=1.0', '-p', 'reasoner:mode:=thinking',
        '--log-level', 'debug', '--params-file', 'b.yaml', '--', '-p', 'not_ros:=1',
    ]  # fmt: skip
    assert params_file_paths(argv) == ['a.yaml', 'b.yaml']
    assert command_line_parameters(argv, 'safety_gate') == {'autostart', 'rate_hz', 'max_wait'}


def test_values_come_from_the_last_file_that_sets_them_for_this_node() -> None:
    from muse_supervisor.params.files import ParamsFile, file_values

    first = ParamsFile('a.yaml', {'/**/safety_gate': {'rate_hz': 10.0, 'max_wait': 1.0}})
    second = ParamsFile('b.yaml', {'/**': {'rate_hz': 5.0}, '/**/reasoner': {'mode': 'x'}})
    assert file_values([first, second], '/r1/safety_gate') == {
        'rate_hz': 'b.yaml',
        'max_wait': 'a.yaml',
    }


# ----- the same checks on a node ----------------------------------------------------------------
@pytest.mark.ros
def test_wrong_type_override_refuses_to_configure_instead_of_raising(ros_context: Any) -> None:
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    # Before the fix the constructor raised, naming command_sources (declared after it).
    node = SafetyGateNode(
        context=ros_context, parameter_overrides=[Parameter('max_linear_speed', value='fast')]
    )
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.FAILURE
        assert node.config is None
    finally:
        node.destroy_node()


def _reasoner_refusals(context: Any, **kwargs: Any) -> list[str] | None:
    """What a reasoner node made with ``kwargs`` says is wrong; None when it configures."""
    from rclpy.lifecycle import TransitionCallbackReturn

    from muse_supervisor.nodes.reasoner_node import ReasonerNode

    node = ReasonerNode(context=context, **kwargs)
    try:
        errors = node.parameter_source_errors()
        configured = node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert configured == (not errors), errors
        return None if configured else errors
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_unknown_override_refuses_to_configure_and_standard_ones_do_not(ros_context: Any) -> None:
    from rclpy.parameter import Parameter

    standard = [Parameter('use_sim_time', value=False)]
    assert _reasoner_refusals(ros_context, parameter_overrides=standard) is None
    typo = [Parameter('candidatez', value=3)]
    errors = _reasoner_refusals(ros_context, parameter_overrides=typo)
    assert errors and len(errors) == 1 and 'did you mean candidates?' in errors[0], errors


@pytest.mark.ros
def test_node_reads_its_own_params_file_arguments(ros_context: Any, tmp_path: Path) -> None:
    path = tmp_path / 'reasoner.yaml'
    path.write_text('/**/reasonr:\n  ros__parameters: {candidates: 2}\n')
    args = ['--ros-args', '--params-file', str(path)]
    errors = _reasoner_refusals(ros_context, namespace='/r9', cli_args=args)
    assert errors and len(errors) == 1, errors
    assert (
        str(path) in errors[0] and "['/**/reasonr']" in errors[0] and '/r9/reasoner' in errors[0]
    )


@pytest.mark.ros
def test_summary_says_where_each_value_came_from(ros_context: Any, tmp_path: Path) -> None:
    from muse_supervisor.nodes.reasoner_node import ReasonerNode

    path = tmp_path / 'reasoner.yaml'
    path.write_text('/**/reasoner:\n  ros__parameters: {candidates: 2}\n')
    args = ['--ros-args', '--params-file', str(path), '-p', 'mode:=thinking']
    node = ReasonerNode(context=ros_context, cli_args=args)
    try:
        summary = node.parameter_summary()
        assert 'candidates=2 (file)' in summary, summary
        assert "mode='thinking' (command line)" in summary, summary
        assert 'autostart=false (default)' in summary, summary
    finally:
        node.destroy_node()


@pytest.mark.ros
def test_reminder_repeats_while_unconfigured_and_stops_once_active(
    ros_context: Any, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from rclpy.executors import SingleThreadedExecutor

    from muse_supervisor.nodes import lifecycle
    from muse_supervisor.nodes.reasoner_node import ReasonerNode

    monkeypatch.setattr(lifecycle, 'REMINDER_PERIOD', 0.5)
    node = ReasonerNode(context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)

    def spin(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)

    try:
        spin(2.6)  # the reminder timer ticks at 1 s: two or three warnings
        unconfigured = capfd.readouterr().err.count(
            'unconfigured: waiting for a lifecycle manager'
        )
        assert unconfigured >= 2
        node.trigger_configure()
        node.trigger_activate()
        spin(1.6)
        assert 'waiting for a lifecycle manager' not in capfd.readouterr().err
    finally:
        executor.shutdown()
        node.destroy_node()
