"""Message definitions and type hashes for MCAP schemas, read from the installed interfaces.

Foxglove, ``mcap_ros2`` and rosbag2 tools decode a ``ros2msg`` schema only when it carries the
whole definition: the type's own ``.msg`` text followed by every type it uses, each once. rosbag2
builds that text from the ``.msg`` files installed under ``share/<pkg>/msg/``; this module does the
same, so the files written here decode like rosbag2's, without rosbag2 installed. The RIHS01 type
hash comes from the ``.json`` type description installed beside each ``.msg`` file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

SEPARATOR = '=' * 80
# Field types that are not messages (rosidl primitive types; strings may be bounded: string<=10).
PRIMITIVES = frozenset(
    {
        'bool',
        'byte',
        'char',
        'float32',
        'float64',
        'int8',
        'uint8',
        'int16',
        'uint16',
        'int32',
        'uint32',
        'int64',
        'uint64',
        'string',
        'wstring',
    }
)
_TYPE_NAME = re.compile(r'^([A-Za-z][A-Za-z0-9_]*)/msg/([A-Z][A-Za-z0-9]*)$')


class DefinitionError(LookupError):
    """A message type whose installed ``.msg`` or ``.json`` file cannot be found or read."""


def share_prefixes() -> list[Path]:
    """Install prefixes to search: ``AMENT_PREFIX_PATH``, then this interpreter's prefix.

    The venv installs the ROS wheels and this package under ``sys.prefix`` without a sourced
    workspace, and a colcon workspace puts them on ``AMENT_PREFIX_PATH``: both are searched, in
    that order (as ``muse_supervisor.nodes.installed`` does for this package's own files).
    """
    value = os.environ.get('AMENT_PREFIX_PATH', '')
    prefixes = [Path(p) for p in value.split(os.pathsep) if p]
    if Path(sys.prefix) not in prefixes:
        prefixes.append(Path(sys.prefix))
    return prefixes


def split_type_name(type_name: str) -> tuple[str, str]:
    """``('std_msgs', 'Header')`` for ``'std_msgs/msg/Header'``; a clear error for other text."""
    match = _TYPE_NAME.match(type_name)
    if not match:
        raise DefinitionError(
            f'message type {type_name!r} is not of the form pkg/msg/Name '
            '(e.g. std_msgs/msg/Header)'
        )
    return match[1], match[2]


def type_name_of(message: object) -> str:
    """The ROS type name (``pkg/msg/Name``) of a generated message instance or class.

    rclpy's generated classes live in ``<pkg>.msg._<name>`` and carry the type's own name, which
    is all that is needed (no rosidl_runtime_py).
    """
    cls = message if isinstance(message, type) else type(message)
    package = cls.__module__.split('.')[0]
    parts = cls.__module__.split('.')
    if len(parts) < 2 or parts[1] != 'msg':
        raise DefinitionError(
            f'{cls.__module__}.{cls.__name__} is not a generated ROS message class '
            '(expected a class from <pkg>.msg, e.g. std_msgs.msg.String)'
        )
    return f'{package}/msg/{cls.__name__}'


def _msg_file(package: str, name: str, suffix: str, prefixes: tuple[Path, ...]) -> Path:
    for prefix in prefixes:
        candidate = prefix / 'share' / package / 'msg' / f'{name}{suffix}'
        if candidate.is_file():
            return candidate
    raise DefinitionError(
        f'no share/{package}/msg/{name}{suffix} under {[str(p) for p in prefixes]}: install the '
        f'interfaces of {package} (its ros-*-{package.replace("_", "-")} wheel or colcon package) '
        'or add its prefix to AMENT_PREFIX_PATH'
    )


def _dependencies(text: str, package: str) -> list[str]:
    """Message types used by the fields of a ``.msg`` text, in order, as ``pkg/msg/Name``."""
    found: list[str] = []
    for raw in text.splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        field_type = line.split()[0]  # constants ("uint8 NAME=1") are primitives: skipped below
        base = re.sub(r'\[.*\]$', '', field_type)
        base = re.sub(r'<=\d+$', '', base)
        if base in PRIMITIVES:
            continue
        parts = base.split('/')
        if len(parts) == 1:
            dependency = f'{package}/msg/{parts[0]}'
        elif len(parts) == 2:
            dependency = f'{parts[0]}/msg/{parts[1]}'
        else:
            dependency = base
        if dependency not in found:
            found.append(dependency)
    return found


@lru_cache(maxsize=256)
def _msg_text(type_name: str, prefixes: tuple[Path, ...]) -> str:
    package, name = split_type_name(type_name)
    path = _msg_file(package, name, '.msg', prefixes)
    try:
        return path.read_text(encoding='utf-8')
    except OSError as error:
        raise DefinitionError(f'cannot read {path}: {error}') from error


def full_definition(type_name: str, prefixes: list[Path] | None = None) -> str:
    """The definition text rosbag2 stores for ``type_name`` in a ``ros2msg`` schema.

    The type's own ``.msg`` text, then each type it depends on (transitively) exactly once, in
    depth-first order of first use, each after a line of 80 ``=`` and a ``MSG: pkg/Name`` line.
    """
    search = tuple(prefixes if prefixes is not None else share_prefixes())
    own = _msg_text(type_name, search)
    seen = {type_name}
    parts = [own.rstrip('\n')]

    def visit(current: str) -> None:
        package, _ = split_type_name(current)
        for dependency in _dependencies(_msg_text(current, search), package):
            if dependency in seen:
                continue
            seen.add(dependency)
            dep_package, dep_name = split_type_name(dependency)
            text = _msg_text(dependency, search).rstrip('\n')
            parts.append(f'{SEPARATOR}\nMSG: {dep_package}/{dep_name}\n{text}')
            visit(dependency)

    visit(type_name)
    return '\n'.join(parts) + '\n'


@lru_cache(maxsize=256)
def _type_hash(type_name: str, prefixes: tuple[Path, ...]) -> str:
    package, name = split_type_name(type_name)
    path = _msg_file(package, name, '.json', prefixes)
    try:
        description = json.loads(path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as error:
        raise DefinitionError(f'cannot read the type description {path}: {error}') from error
    for entry in description.get('type_hashes', []):
        if entry.get('type_name') == type_name:
            return str(entry['hash_string'])
    raise DefinitionError(f'{path} has no type hash for {type_name} (expected in "type_hashes")')


def type_hash(type_name: str, prefixes: list[Path] | None = None) -> str:
    """The ``RIHS01_...`` hash of ``type_name``, as rosbag2 records it in ``topic_type_hash``."""
    return _type_hash(type_name, tuple(prefixes if prefixes is not None else share_prefixes()))
