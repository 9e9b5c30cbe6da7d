"""Parameter files and ROS command-line arguments, read the way ROS reads them; free of ROS.

ROS applies a ``--params-file`` section to a node when the section's key matches the node's
fully qualified name (``/**`` any namespaces, ``/*`` one name, otherwise literal; a key without a
leading ``/`` gets one), and silently ignores a file none of whose sections match. The node uses
these functions to refuse that case, and to say where each of its values came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]

from muse_supervisor.params.spec import ConfigError

# rcl's options that take a value (ros2/rcl arguments.c); every other one is a flag.
_VALUE_OPTIONS = frozenset(
    {
        '-r', '--remap', '-p', '--param', '--params-file', '-e', '--enclave', '--log-level',
        '--log-config-file', '--log-file-name',
    }
)  # fmt: skip
_PARAMETERS_KEY = 'ros__parameters'


@dataclass(frozen=True)
class ParamsFile:
    """One parameter file: its path and, per node section (key as written), its parameters."""

    path: str
    sections: Mapping[str, Mapping[str, Any]]


def ros_options(argv: Sequence[str]) -> list[tuple[str, str]]:
    """The ``(option, value)`` pairs inside ``--ros-args`` ... ``--`` sections of ``argv``."""
    options = []
    inside = False
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == '--ros-args':
            inside = True
        elif token == '--':
            inside = False
        elif inside and token in _VALUE_OPTIONS and i + 1 < len(argv):
            options.append((token, argv[i + 1]))
            i += 1
        i += 1
    return options


def params_file_paths(argv: Sequence[str]) -> list[str]:
    """The paths given with ``--params-file``, in order."""
    return [value for option, value in ros_options(argv) if option == '--params-file']


def command_line_parameters(argv: Sequence[str], node_name: str) -> set[str]:
    """Names set with ``-p name:=value`` (or ``-p <node_name>:name:=value``) for this node."""
    names = set()
    for option, value in ros_options(argv):
        if option not in ('-p', '--param') or ':=' not in value:
            continue
        target, _, name = value.partition(':=')[0].rpartition(':')
        if not target or target == node_name:
            names.add(name)
    return names


def read_params_file(path: str) -> ParamsFile:
    """Read a parameter file into its sections; :class:`ConfigError` when it cannot be read.

    Nested keys above ``ros__parameters`` are namespaces (``robot_1: {safety_gate: ...}`` is the
    section ``robot_1/safety_gate``); nested keys below it are joined with dots, as ROS does.
    """
    try:
        with open(path, encoding='utf-8') as stream:
            document = yaml.safe_load(stream)
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f'parameter file {path}: cannot be read ({error})') from error
    sections: dict[str, dict[str, Any]] = {}
    _collect_sections(document if isinstance(document, dict) else {}, [], sections)
    return ParamsFile(path, sections)


def _collect_sections(
    mapping: Mapping[Any, Any], names: list[str], sections: dict[str, dict[str, Any]]
) -> None:
    for key, value in mapping.items():
        if key == _PARAMETERS_KEY and names:
            flat: dict[str, Any] = {}
            _flatten(value if isinstance(value, dict) else {}, '', flat)
            # `robot_1/safety_gate:` and `robot_1: {safety_gate: ...}` are one section to ROS.
            sections.setdefault('/'.join(names), {}).update(flat)
        elif isinstance(value, dict):
            _collect_sections(value, [*names, str(key)], sections)


def _flatten(mapping: Mapping[Any, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in mapping.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            _flatten(value, f'{name}.', out)
        else:
            out[name] = value


def section_applies(section: str, node_fqn: str) -> bool:
    """Whether ROS applies the section ``section`` to the node named ``node_fqn``.

    ``/**`` stands for any number of namespace levels (none included), ``/*`` for exactly one
    name; everything else is literal, and a key without a leading ``/`` gets one (so a bare
    ``safety_gate`` applies only to ``/safety_gate``).
    """
    key = section if section.startswith('/') else f'/{section}'
    parts = re.split(r'(/\*\*|/\*)', key)
    wildcard = {'/**': r'(/\w+)*', '/*': r'/\w+'}
    pattern = ''.join(wildcard.get(part, re.escape(part)) for part in parts)
    return re.fullmatch(pattern, node_fqn) is not None


def file_values(files: Iterable[ParamsFile], node_fqn: str) -> dict[str, str]:
    """Parameter name -> path of the file that sets it for this node (a later file wins)."""
    origin = {}
    for params_file in files:
        for section, values in params_file.sections.items():
            if section_applies(section, node_fqn):
                origin.update(dict.fromkeys(values, params_file.path))
    return origin


def sections_error(files: Sequence[ParamsFile], node_fqn: str) -> str | None:
    """Why none of ``files`` applies to this node, or None when one of them does (or none given).

    A node started with parameter files none of whose sections applies to it runs on defaults
    without a word from ROS; the message names each file, its sections and the node's name.
    """
    if not files or any(
        section_applies(section, node_fqn) for f in files for section in f.sections
    ):
        return None
    name = node_fqn.rsplit('/', 1)[-1]
    found = '; '.join(f'{f.path} has sections {sorted(f.sections)}' for f in files)
    return (
        f'no section of the parameter file(s) applies to this node, {node_fqn}, so it would run '
        f'on defaults: {found}; a section applies when its key is /**/{name}, {node_fqn}, /** or '
        f'another pattern that matches {node_fqn} (/** for any namespaces, /* for one name)'
    )
