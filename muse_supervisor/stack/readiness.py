"""What ``up`` asks the ROS graph: which nodes already run, and whether the started ones are up.

A process that runs is not yet a node that works: the stack counts as up only when every node
answers ``get_state`` with ``active``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lifecycle_msgs.srv import GetState
from rclpy.node import Node


def lifecycle_states(
    node: Node,
    fully_qualified_names: list[str],
    timeout: float,
    spin_once: Callable[[float], None],
    keep_waiting: Callable[[], bool] = lambda: True,
) -> dict[str, str]:
    """Poll each node's ``get_state`` service until all report ``active`` or ``timeout`` passes.

    Returns the last state label seen per node (``'no answer'`` where none came). ``spin_once``
    spins the caller's executor; ``keep_waiting`` lets the caller stop early (a process died).
    """
    clients: dict[str, Any] = {
        name: node.create_client(GetState, f'{name}/get_state') for name in fully_qualified_names
    }
    states = {name: 'no answer' for name in fully_qualified_names}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and keep_waiting():
            pending = {}
            for name, client in clients.items():
                if states[name] != 'active' and client.service_is_ready():
                    pending[name] = client.call_async(GetState.Request())
            poll_until = time.monotonic() + 0.5
            while pending and time.monotonic() < poll_until:
                spin_once(0.05)
                for name, future in list(pending.items()):
                    if future.done():
                        response = future.result()
                        if response is not None:
                            states[name] = response.current_state.label
                        del pending[name]
            if all(label == 'active' for label in states.values()):
                break
            spin_once(0.1)
    finally:
        for client in clients.values():
            node.destroy_client(client)
    return states


def nodes_on_graph(node: Node, settle: float, spin_once: Callable[[float], None]) -> set[str]:
    """The fully qualified names of the nodes discovered within ``settle`` seconds.

    Discovery has no end to wait for, so this listens for ``settle`` seconds (enough for the
    participants of one host to announce themselves) and returns every name seen, ``node``'s
    own excepted.
    """
    seen: set[str] = set()
    deadline = time.monotonic() + settle
    while True:
        seen |= name_counts(node)
        if time.monotonic() >= deadline:
            break
        spin_once(0.1)
    seen.discard(node.get_fully_qualified_name())
    return seen


def name_counts(node: Node, more_than: int = 0) -> set[str]:
    """The fully qualified names the graph lists more than ``more_than`` times (ROS allows it)."""
    counts: dict[str, int] = {}
    for name, namespace in node.get_node_names_and_namespaces():
        full = f'{namespace.rstrip("/")}/{name}'
        counts[full] = counts.get(full, 0) + 1
    return {name for name, count in counts.items() if count > more_than}
