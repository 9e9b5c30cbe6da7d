"""The reasoner's tools: typed functions, a JSON schema each, every call traced and budgeted.

Each tool has a name, a description and a JSON schema of its arguments (what a model backend is
shown and what its tool calls are checked against), and returns a JSON-able result and a
one-line summary. :class:`ToolBox` runs them: it checks the arguments against the schema,
refuses calls beyond the per-incident budget or after the deadline, breaks loops (the same call
with the same arguments a third time is refused), and records every call, refused ones
included, in the trace the proposal carries (tool, arguments, summary, latency).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_CALLS = 16  # per incident
MAX_REPEATS = 2  # identical calls allowed before the loop breaker refuses


@dataclass(frozen=True)
class ToolResult:
    """What a tool gives back: a JSON-able value and a line for the trace."""

    value: Any
    summary: str


@dataclass(frozen=True)
class Tool:
    """One tool: name, description, argument schema and the function."""

    name: str
    description: str
    schema: Mapping[str, Any]
    run: Callable[[Mapping[str, Any]], ToolResult]

    def spec(self) -> dict[str, Any]:
        """The OpenAI-style function description (name, description, parameters)."""
        return {'name': self.name, 'description': self.description, 'parameters': self.schema}


@dataclass(frozen=True)
class TraceEntry:
    """One tool call as the proposal reports it."""

    tool: str
    arguments: Mapping[str, Any]
    summary: str
    latency_ms: float
    ok: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            'tool': self.tool,
            'arguments': dict(self.arguments),
            'summary': self.summary,
            'latency_ms': round(self.latency_ms, 2),
            'ok': self.ok,
        }


class ToolError(ValueError):
    """A call refused: unknown tool, bad arguments, budget or deadline spent, a loop."""


@dataclass
class ToolBox:
    """The tools of one reasoning pass, its budget and its trace."""

    tools: Mapping[str, Tool]
    deadline: float = float('inf')  # time.monotonic() after which calls are refused
    max_calls: int = MAX_CALLS
    clock: Callable[[], float] = time.monotonic
    trace: list[TraceEntry] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=dict)

    def call(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Run a tool; :class:`ToolError` (also traced) when the call is refused or fails."""
        arguments = dict(arguments or {})
        start = self.clock()
        try:
            tool = self._admit(name, arguments)
            result = tool.run(arguments)
        except Exception as error:
            self.trace.append(
                TraceEntry(
                    name, arguments, f'refused: {error}', 1e3 * (self.clock() - start), ok=False
                )
            )
            raise ToolError(str(error)) from error
        self.trace.append(
            TraceEntry(name, arguments, result.summary, 1e3 * (self.clock() - start))
        )
        return result.value

    def _admit(self, name: str, arguments: dict[str, Any]) -> Tool:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f'unknown tool {name!r}; tools: {sorted(self.tools)}')
        if len(self.trace) >= self.max_calls:
            raise ToolError(f'tool budget spent ({self.max_calls} calls per incident)')
        if self.clock() > self.deadline:
            raise ToolError('deadline passed')
        problem = check_arguments(tool.schema, arguments)
        if problem:
            raise ToolError(f'{name}: {problem}')
        key = name + json.dumps(arguments, sort_keys=True, default=str)
        self._seen[key] = self._seen.get(key, 0) + 1
        if self._seen[key] > MAX_REPEATS:
            raise ToolError(f'{name} called {self._seen[key]} times with the same arguments')
        return tool


_TYPES: dict[str, tuple[type, ...]] = {
    'string': (str,),
    'integer': (int,),
    'number': (int, float),
    'boolean': (bool,),
    'array': (list, tuple),
    'object': (dict,),
}


def check_arguments(schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    """What is wrong with ``arguments`` for an object ``schema`` (the subset tools use), or ''."""
    properties = schema.get('properties', {})
    missing = [name for name in schema.get('required', []) if name not in arguments]
    if missing:
        return f'missing argument(s) {missing}'
    if schema.get('additionalProperties') is False:
        unknown = sorted(set(arguments) - set(properties))
        if unknown:
            return f'unknown argument(s) {unknown}; expected {sorted(properties)}'
    for name, value in arguments.items():
        spec = properties.get(name, {})
        problem = _check_value(name, spec, value)
        if problem:
            return problem
    return ''


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> str:
    kind = spec.get('type')
    if kind is not None:
        types = _TYPES[kind]
        if (isinstance(value, bool) and kind != 'boolean') or not isinstance(value, types):
            return f'argument {name!r}: expected {kind}, got {value!r}'
    if 'enum' in spec and value not in spec['enum']:
        return f'argument {name!r}: {value!r} is not one of {spec["enum"]}'
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 'minimum' in spec and value < spec['minimum']:
            return f'argument {name!r}: {value} below {spec["minimum"]}'
        if 'maximum' in spec and value > spec['maximum']:
            return f'argument {name!r}: {value} above {spec["maximum"]}'
    if isinstance(value, str) and len(value) > spec.get('maxLength', 1000):
        return f'argument {name!r}: longer than {spec.get("maxLength", 1000)} characters'
    if isinstance(value, (list, tuple)):
        if len(value) > spec.get('maxItems', 64):
            return f'argument {name!r}: more than {spec.get("maxItems", 64)} items'
        for index, item in enumerate(value):
            problem = _check_value(f'{name}[{index}]', spec.get('items', {}), item)
            if problem:
                return problem
    return ''
