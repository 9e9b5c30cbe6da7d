"""Declare a configuration dataclass's fields as ROS parameters, with descriptors.

Values come from the parameter files the stack declaration passes (``config/*.yaml``); each
parameter is declared with its description, range and read-only flag, so ``ros2 param describe``
tells an operator what it means. Run-time changes go through the same validation as start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    ParameterType,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterValueException
from rclpy.node import Node

from muse_supervisor.params.spec import ConfigError, ParamInfo, from_mapping, param_infos

ConfigT = TypeVar('ConfigT')

_PARAMETER_TYPES = {
    bool: ParameterType.PARAMETER_BOOL,
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    str: ParameterType.PARAMETER_STRING,
}


def descriptor(info: ParamInfo) -> ParameterDescriptor:
    """The ROS parameter descriptor of one configuration field."""
    text = info.description
    if info.choices:
        text += f' One of: {", ".join(info.choices)}.'
    result = ParameterDescriptor(
        name=info.name,
        type=_PARAMETER_TYPES[info.kind],
        description=text,
        read_only=info.read_only,
    )
    if info.kind is float and (info.minimum is not None or info.maximum is not None):
        result.floating_point_range = [
            FloatingPointRange(
                from_value=float(info.minimum if info.minimum is not None else -1e300),
                to_value=float(info.maximum if info.maximum is not None else 1e300),
                step=0.0,
            )
        ]
    elif info.kind is int and (info.minimum is not None or info.maximum is not None):
        result.integer_range = [
            IntegerRange(
                from_value=int(info.minimum if info.minimum is not None else -(2**63)),
                to_value=int(info.maximum if info.maximum is not None else 2**63 - 1),
                step=1,
            )
        ]
    return result


def parameter_overrides(node: Node) -> dict[str, Any]:
    """The initial values ROS gave ``node``: name -> value, before any was declared.

    These are the ``--params-file`` sections and ``-p`` arguments that ROS matched to this node
    (by its wildcard rules), plus the constructor's ``parameter_overrides``. rclpy keeps them in
    ``Node._parameter_overrides`` (name -> Parameter), the same in Jazzy (7.1) and Kilted (9.1),
    and uses them only when a parameter of that name is declared, silently ignoring the rest.
    """
    overrides = getattr(node, '_parameter_overrides', None) or {}
    return {name: getattr(value, 'value', value) for name, value in overrides.items()}


def declare_config(node: Node, config_type: type[ConfigT]) -> Callable[[], ConfigT]:
    """Declare every field of ``config_type`` on ``node``; return a loader for the values.

    Declaration happens at construction (so ``ros2 param`` shows the parameters and descriptors
    even while the node is unconfigured); the loader is called in ``on_configure`` and raises
    :class:`ConfigError` when the values from the parameter files are invalid. Every refusal
    has the same form (:meth:`ParamInfo.refusal`: the parameter, the value, what was expected),
    whether rclpy refused the value at declaration or the schema refuses it. Run-time changes
    are validated as a whole configuration and refused, with the reason, when invalid.
    """
    infos = param_infos(config_type)
    names = {info.name for info in infos}
    refused: dict[str, str] = {}
    for info in infos:
        # Integers given for float parameters in YAML would be rejected by rclpy's type check;
        # dynamic typing lets from_mapping() coerce them and report clear errors itself.
        desc = descriptor(info)
        desc.dynamic_typing = True
        try:
            node.declare_parameter(info.name, info.default, desc)
        except InvalidParameterValueException:
            # An override outside the descriptor's range: keep the node alive and unconfigured,
            # and refuse the configure transition with the reason (fail closed, say why).
            node.declare_parameter(info.name, info.default, desc, ignore_override=True)
            refused[info.name] = _refusal(info, parameter_overrides(node).get(info.name))

    def validate_change(changes: list[Any]) -> SetParametersResult:  # rclpy Parameters
        if not any(change.name in names for change in changes):
            # Another parameter (declared later, or another schema's): not ours to judge. An
            # invalid value of ours must not make an unrelated declaration raise; configure
            # reports it, naming it.
            return SetParametersResult(successful=True)
        values = _current_values(node, infos)
        values.update({change.name: change.value for change in changes if change.name in values})
        try:
            from_mapping(config_type, values)
        except ConfigError as error:
            return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True)

    def load() -> ConfigT:
        if refused:
            raise ConfigError('; '.join(refused.values()))
        return from_mapping(config_type, _current_values(node, infos))

    node.add_on_set_parameters_callback(validate_change)
    return load


def _refusal(info: ParamInfo, value: Any) -> str:
    """Why rclpy refused ``value`` for ``info``, in the schema's words."""
    try:
        info.check(value)
    except ConfigError as error:
        return str(error)
    # rclpy refused a value the schema accepts (a range rounding edge): still say what and why.
    return str(info.refusal(value)) + ' (refused by the ROS parameter descriptor)'


def _current_values(node: Node, infos: tuple[ParamInfo, ...]) -> dict[str, Any]:
    return {info.name: node.get_parameter(info.name).value for info in infos}
