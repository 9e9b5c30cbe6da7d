"""The graph guard's rule: the gate's one publisher is the only endpoint on an actuator topic.

Names prove nothing on a ROS graph: a second gate started in the same namespace, or any node
that calls itself ``safety_gate``, has the gate's name. What the gate knows for sure is that it
owns exactly one publisher on its output topic, so every endpoint beyond that one, whatever its
name (or none yet: DDS can show an endpoint before its node's name), is a rogue, and on any other
actuator topic every publisher is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Endpoint = tuple[str, str]  # (node namespace, node name) as the graph reports a publisher


def rogue_publishers(
    publishers: Mapping[str, Sequence[Endpoint]], own: Endpoint, output_topic: str
) -> str:
    """Describe the rogue publishers on the actuator topics (``''`` when there are none).

    ``publishers`` maps each actuator topic (fully qualified) to its publishers; ``own`` is the
    gate's node and ``output_topic`` the one topic the gate itself publishes on, once.
    """
    rogues = []
    for topic, endpoints in sorted(publishers.items()):
        remaining = list(endpoints)
        if topic == output_topic and own in remaining:
            remaining.remove(own)  # the gate's own publisher: exactly one endpoint
        for namespace, name in remaining:
            if (namespace, name) == own:
                label = f"{_qualified(own)} (a second publisher under the gate's own name)"
            elif not name or name == '_NODE_NAME_UNKNOWN_':
                label = '(node not yet named)'
            else:
                label = _qualified((namespace, name))
            rogues.append(f'{label} on {topic}')
    if not rogues:
        return ''
    return 'other publisher(s) on actuator topics: ' + ', '.join(sorted(rogues))


def _qualified(endpoint: Endpoint) -> str:
    namespace, name = endpoint
    return f'{namespace.rstrip("/")}/{name}'
