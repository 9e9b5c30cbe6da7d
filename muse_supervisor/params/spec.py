"""Parameter schemas as frozen dataclasses, free of ROS.

A node's configuration is a frozen dataclass; each field is made with :func:`param`, which records
the description, the accepted range or choices and whether the value may change at run time. The
same record drives the rclpy declaration (``muse_supervisor.params.ros``), validation of YAML files
before start-up, and the docs: one declaration, no second list to keep in step.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

ConfigT = TypeVar('ConfigT')


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which, what was expected, and the fix."""


@dataclass(frozen=True)
class ParamInfo:
    """What a parameter means and which values it accepts."""

    name: str
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    read_only: bool = False

    @property
    def kind(self) -> type:
        """Python type of the value: bool, int, float or str."""
        return type(self.default)

    def check(self, value: Any) -> Any:
        """Return ``value`` coerced to this parameter's type, or raise :class:`ConfigError`."""
        value = _coerce(self, value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f'parameter {self.name!r}: got {value}, expected a finite number')
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(
                f'parameter {self.name!r}: got {value}, expected at least {self.minimum} '
                f'({self.description})'
            )
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(
                f'parameter {self.name!r}: got {value}, expected at most {self.maximum} '
                f'({self.description})'
            )
        if self.choices and value not in self.choices:
            raise ConfigError(
                f'parameter {self.name!r}: got {value!r}, expected one of {list(self.choices)}'
            )
        return value


def _coerce(info: ParamInfo, value: Any) -> Any:
    kind = info.kind
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # YAML writes 1 for 1.0; ROS would reject it, we accept it.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(
            f'parameter {info.name!r}: got {value!r} ({type(value).__name__}), '
            f'expected {kind.__name__}'
        )
    return value


def param(
    default: Any,
    description: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: tuple[str, ...] = (),
    read_only: bool = False,
) -> Any:
    """Declare a configuration field with its descriptor (use inside a frozen dataclass)."""
    metadata = {
        'description': description,
        'minimum': minimum,
        'maximum': maximum,
        'choices': choices,
        'read_only': read_only,
    }
    if not isinstance(default, (bool, int, float, str)):
        raise TypeError(f'parameter default must be bool, int, float or str, got {default!r}')
    return dataclasses.field(default=default, metadata=metadata)


def param_infos(config_type: type) -> tuple[ParamInfo, ...]:
    """The :class:`ParamInfo` of every field of a configuration dataclass, in field order."""
    infos = []
    for field in dataclasses.fields(config_type):
        if 'description' not in field.metadata:
            raise TypeError(f'{config_type.__name__}.{field.name} is not declared with param()')
        infos.append(ParamInfo(name=field.name, default=field.default, **field.metadata))
    return tuple(infos)


def from_mapping(config_type: type[ConfigT], values: Mapping[str, Any]) -> ConfigT:
    """Build a configuration from ``values`` (missing keys take defaults), validating each one.

    Unknown keys are refused: a misspelt safety parameter must not silently fall back to its
    default.
    """
    infos = {info.name: info for info in param_infos(config_type)}
    unknown = sorted(set(values) - set(infos))
    if unknown:
        raise ConfigError(
            f'{config_type.__name__}: unknown parameter(s) {unknown}; '
            f'known parameters are {sorted(infos)}'
        )
    checked = {name: infos[name].check(value) for name, value in values.items()}
    config = config_type(**checked)
    validate = getattr(config, 'validate', None)
    if validate is not None:
        validate()
    return config
