"""The nodes of the stack, their parameter files, remappings and namespace, declared once.

``launch/supervisor.launch.py`` (for ROS 2 installs) and ``muse-supervisor up`` (for environments
without ``ros2 launch``) both start the stack from :func:`launch_plan`, so the two cannot disagree
about which nodes run or how they are wired. A fleet runs one stack per robot namespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

PACKAGE = 'muse_supervisor'

_NAME = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')
# The node that serves the operator HMI: one per fleet (fleet_plan).
HMI = 'hmi_bridge'


class StackError(ValueError):
    """The stack cannot be started as asked; the message says what to change."""


@dataclass(frozen=True)
class NodeDeclaration:
    """One node of the stack: which executable runs it and how it is configured and wired."""

    name: str
    executable: str
    role: str
    # Parameter file under the package's config/ folder.
    params_file: str
    # (from, to) topic remappings, relative names, applied inside the robot's namespace.
    remappings: tuple[tuple[str, str], ...] = ()


# The stack. Topic names are relative, so each robot's stack lives in its own namespace; remap
# here (one place) to wire a robot whose drivers use other names.
STACK: tuple[NodeDeclaration, ...] = (
    NodeDeclaration(
        name='safety_gate',
        executable='safety_gate_node',
        role='sole actuation authority; executes approved plans; fails closed',
        params_file='safety_gate.yaml',
    ),
    NodeDeclaration(
        name='perception',
        executable='perception_node',
        role='camera, alarm and mission topics -> incidents with evidence',
        params_file='perception.yaml',
        remappings=(('image', 'camera/image_raw'),),
    ),
    NodeDeclaration(
        name='reasoner',
        executable='reasoner_node',
        role='multimodal reasoner: incidents -> ranked recovery plans',
        params_file='reasoner.yaml',
    ),
    NodeDeclaration(
        name='plan_simulator',
        executable='plan_simulator_node',
        role='EvaluatePlan action server: predicts what each plan would do',
        params_file='plan_simulator.yaml',
    ),
    NodeDeclaration(
        name='hmi_bridge',
        executable='hmi_bridge_node',
        role='operator HMI: incidents, evidence, ranked plans, decisions',
        params_file='hmi_bridge.yaml',
    ),
    NodeDeclaration(
        name='sim_world',
        executable='sim_world_node',
        role='kinematic robot and world for runs without Gazebo',
        params_file='sim_world.yaml',
    ),
)


@dataclass(frozen=True)
class NodeLaunch:
    """A node of the stack resolved for one robot: everything needed to start its process."""

    declaration: NodeDeclaration
    namespace: str
    params_files: tuple[Path, ...]
    parameters: tuple[tuple[str, bool | int | float | str], ...]

    @property
    def fully_qualified_name(self) -> str:
        """``/namespace/name``, as the ROS graph lists the node."""
        return f'{self.namespace.rstrip("/")}/{self.declaration.name}'

    def ros_arguments(self) -> list[str]:
        """Command-line ROS arguments equivalent to what ``launch_ros`` passes for this node."""
        args = ['--ros-args', '-r', f'__node:={self.declaration.name}']
        args += ['-r', f'__ns:={self.namespace}']
        for params_file in self.params_files:
            args += ['--params-file', str(params_file)]
        for name, value in self.parameters:
            args += ['-p', f'{name}:={_yaml_scalar(value)}']
        for source, target in self.declaration.remappings:
            args += ['-r', f'{source}:={target}']
        return args


def launch_plan(
    config_dir: Path,
    namespace: str = '',
    *,
    only: tuple[str, ...] = (),
    autostart: bool = True,
    use_sim_time: bool = False,
) -> list[NodeLaunch]:
    """Resolve the stack for one robot namespace.

    ``config_dir`` holds the parameter files; ``only`` restricts the stack to some node names
    (for tests and partial bring-up). Lifecycle nodes configure and activate themselves when
    ``autostart`` is true, as no lifecycle manager runs beside them (docs/LIFECYCLE.md).
    ``use_sim_time`` makes every node follow ``/clock``.
    """
    namespace = normalize_namespace(namespace)
    known = {node.name for node in STACK}
    unknown = sorted(set(only) - known)
    if unknown:
        raise StackError(f'unknown node(s) {unknown}; the stack has {sorted(known)}')
    plan = []
    for node in STACK:
        if only and node.name not in only:
            continue
        params_file = config_dir / node.params_file
        if not params_file.is_file():
            raise StackError(
                f'parameter file {params_file} for node {node.name!r} does not exist; '
                'pass the package config folder (share/muse_supervisor/config)'
            )
        plan.append(
            NodeLaunch(
                declaration=node,
                namespace=namespace,
                params_files=(params_file,),
                parameters=(('autostart', autostart),)
                + ((('use_sim_time', True),) if use_sim_time else ()),
            )
        )
    return plan


def fleet_plan(
    config_dir: Path,
    namespaces: list[str],
    *,
    only: tuple[str, ...] = (),
    autostart: bool = True,
    use_sim_time: bool = False,
) -> list[NodeLaunch]:
    """Resolve the stack for each robot namespace of a fleet (none given: the root namespace).

    Two spellings of one namespace (``robot_1`` and ``/robot_1``) name one robot twice, which
    would start two nodes under each name: refused. A fleet has one operator HMI: the first
    robot's ``hmi_bridge`` serves every robot (its ``robots`` parameter), and the others start
    none (one page for the fleet, and one port).
    """
    seen: dict[str, str] = {}
    for given in namespaces or ['']:
        resolved = normalize_namespace(given)
        if resolved in seen:
            raise StackError(
                f'robot namespace {resolved} is given twice (as {seen[resolved]!r} and '
                f'{given!r}); give each robot once'
            )
        seen[resolved] = given
    plan: list[NodeLaunch] = []
    for index, namespace in enumerate(seen):
        for node in launch_plan(
            config_dir, namespace, only=only, autostart=autostart, use_sim_time=use_sim_time
        ):
            if node.declaration.name == HMI and len(seen) > 1:
                if index:
                    continue
                node = replace(node, parameters=(*node.parameters, ('robots', ','.join(seen))))
            plan.append(node)
    return plan


def normalize_namespace(namespace: str) -> str:
    """Return ``namespace`` as an absolute ROS namespace (``''`` -> ``/``), or raise."""
    stripped = namespace.strip().strip('/')
    if stripped and not all(_NAME.match(part) for part in stripped.split('/')):
        raise StackError(
            f'invalid robot namespace {namespace!r}: expected names of letters, digits and '
            "underscores, starting with a letter, separated by '/', "
            "e.g. 'robot_1' or 'site_a/robot_1'"
        )
    return '/' + stripped


def _yaml_scalar(value: bool | int | float | str) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return str(value)
