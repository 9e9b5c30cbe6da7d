"""Parameter schemas as frozen dataclasses, free of ROS.

A node's configuration is a frozen dataclass; each field is made with :func:`param`, which records
the description, the accepted range or choices and whether the value may change at run time. The
same record drives the rclpy declaration (``muse_supervisor.params.ros``), validation of YAML files
before start-up, and the docs: one declaration, no second list to keep in step.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Iterable, Mapping
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
        """Return ``value`` coerced to this parameter's type, or raise :class:`ConfigError`.

        Every refusal reads the same way: ``parameter NAME: got VALUE (TYPE), expected WHAT:
        DESCRIPTION``, so the user sees which parameter, what it had and what it should have.
        """
        coerced = _coerce(self.kind, value)
        if coerced is _WRONG_TYPE:
            raise self.refusal(value)
        if isinstance(coerced, float) and not math.isfinite(coerced):
            raise self.refusal(value)
        if self.minimum is not None and coerced < self.minimum:
            raise self.refusal(value)
        if self.maximum is not None and coerced > self.maximum:
            raise self.refusal(value)
        if self.choices and coerced not in self.choices:
            raise self.refusal(value)
        return coerced

    def expected(self) -> str:
        """What this parameter accepts, in words: ``a number in [0.01, 5.0]``."""
        if self.kind is bool:
            return 'true or false'
        if self.kind is str:
            if self.choices:
                return 'one of ' + ', '.join(repr(choice) for choice in self.choices)
            return 'a string'
        what = 'a number' if self.kind is float else 'an integer'
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return f'{what} in [{low}, {high}]'
        if low is not None:
            return f'{what} >= {low}'
        if high is not None:
            return f'{what} <= {high}'
        return 'a finite number' if self.kind is float else what

    def refusal(self, value: Any) -> ConfigError:
        """The error for ``value``: the parameter, the value and its type, what was expected."""
        expected = self.expected()
        if isinstance(value, float) and not math.isfinite(value):
            expected = expected.replace('a number', 'a finite number', 1)
        return ConfigError(
            f'parameter {self.name}: got {value!r} ({type_name(value)}), '
            f'expected {expected}: {self.description}'
        )


_WRONG_TYPE = object()


def _coerce(kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or ``_WRONG_TYPE``; an integer counts as a float (YAML ``1``)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # YAML writes 1 for 1.0; ROS would reject it, we accept it.
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        return _WRONG_TYPE
    return value


def type_name(value: Any) -> str:
    """The type of a parameter value as a YAML file's author sees it (``string``, ``number``)."""
    if value is None:
        return 'not set'
    if isinstance(value, bool):
        return 'bool'
    if isinstance(value, int):
        return 'integer'
    if isinstance(value, float):
        return 'number'
    if isinstance(value, str):
        return 'string'
    if isinstance(value, (bytes, bytearray)):
        return 'bytes'
    return 'list'


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
    default. (On a node, ROS drops an override that names no declared parameter before it gets
    here; ``SupervisorNode`` refuses those with :func:`unknown_parameters` on configure.)
    """
    infos = {info.name: info for info in param_infos(config_type)}
    unknown = unknown_parameters(infos, values)
    if unknown:
        raise ConfigError(f'{config_type.__name__}: ' + '; '.join(unknown))
    checked = {name: infos[name].check(value) for name, value in values.items()}
    config = config_type(**checked)
    validate = getattr(config, 'validate', None)
    if validate is not None:
        validate()
    return config


# Parameters rclpy itself declares on every node, or declares later (QoS overrides are declared
# when a publisher or subscription that accepts them is created): never unknown.
STANDARD_PARAMETERS = frozenset({'use_sim_time', 'start_type_description_service'})
STANDARD_PREFIXES = ('qos_overrides.',)


def unknown_parameters(
    declared: Iterable[str], given: Iterable[str], origin: Mapping[str, str] | None = None
) -> list[str]:
    """One error for each name in ``given`` that names no ``declared`` parameter, sorted.

    Each error names the unknown parameter, where it was set (``origin``: name -> where, when
    known) and the closest declared name (difflib), so ``max_linear_sped`` says ``did you mean
    max_linear_speed?``. rclpy's standard parameters (:data:`STANDARD_PARAMETERS`, the
    ``qos_overrides.`` family) are always allowed.
    """
    known = sorted(set(declared))
    errors = []
    for name in sorted(set(given) - set(known)):
        if name in STANDARD_PARAMETERS or name.startswith(STANDARD_PREFIXES):
            continue
        where = f' (set in {origin[name]})' if origin and name in origin else ''
        errors.append(
            f'unknown parameter {name}{where}: no parameter of that name is declared, so the '
            f'value would be ignored; {_closest(name, known)}'
        )
    return errors


def _closest(name: str, known: list[str]) -> str:
    """A hint for an unknown ``name``: the closest known name, or why a nested one is missing."""
    head, _, rest = name.partition('.')
    entry, _, key = rest.partition('.')
    if key and head in known and not any(k.startswith(f'{head}.{entry}.') for k in known):
        # keep_out_zones.aisle_4.polygon while keep_out_zones does not list aisle_4.
        return f'{head} does not list {entry!r}: add it there to declare {head}.{entry}.*'
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if match:
        return f'did you mean {match[0]}?'
    return 'no declared parameter has a similar name (ros2 param list shows them all)'
