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
        ({'speed': 2.5}, "'speed': got 2.5, expected at most 2.0"),
        ({'speed': -0.1}, 'expected at least 0.0'),
        ({'speed': math.nan}, 'expected a finite number'),
        ({'speed': math.inf}, 'expected a finite number'),
        ({'speed': '0.5'}, 'expected float'),
        ({'count': True}, 'expected int'),
        ({'enabled': 1}, 'expected bool'),
        ({'mode': 'fast'}, "expected one of ['instant', 'thinking']"),
        ({'sped': 0.3}, "unknown parameter(s) ['sped']"),
    ],
)
def test_invalid_values_are_refused_with_what_was_expected(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as error:
        from_mapping(_Example, values)
    assert message in str(error.value)


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
