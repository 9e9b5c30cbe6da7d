"""Start the muse_supervisor stack for one robot.

    ros2 launch muse_supervisor supervisor.launch.py namespace:=robot_1

The nodes, parameter files and remappings come from the stack declaration
(``muse_supervisor.stack``), the same one ``muse-supervisor up`` uses. A node that exits shuts
the whole launch down, as ``up`` does: a supervisor without its safety gate must not look
healthy. For a fleet, see ``fleet.launch.py`` beside this file. Every argument is described in
docs/RUNNING.md.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from muse_supervisor.stack import PACKAGE, launch_plan

LOG_LEVELS = ('debug', 'info', 'warn', 'error', 'fatal')


def _flag(context, name):
    value = LaunchConfiguration(name).perform(context).strip().lower()
    if value not in ('true', 'false'):
        raise ValueError(f'launch argument {name}:={value!r}: expected true or false')
    return value == 'true'


def _stack_nodes(context):
    namespace = LaunchConfiguration('namespace').perform(context)
    config_dir = LaunchConfiguration('config_dir').perform(context)
    log_level = LaunchConfiguration('log_level').perform(context).strip().lower()
    if log_level not in LOG_LEVELS:
        raise ValueError(f'launch argument log_level:={log_level!r}: expected one of {LOG_LEVELS}')
    plan = launch_plan(
        Path(config_dir),
        namespace,
        autostart=_flag(context, 'autostart'),
        use_sim_time=_flag(context, 'use_sim_time'),
    )
    return [
        Node(
            package=PACKAGE,
            executable=node.declaration.executable,
            name=node.declaration.name,
            namespace=node.namespace,
            parameters=[str(path) for path in node.params_files] + [dict(node.parameters)],
            remappings=list(node.declaration.remappings),
            ros_arguments=['--log-level', log_level],
            output='screen',
            on_exit=Shutdown(reason=f'{node.fully_qualified_name} exited; stopping the stack'),
        )
        for node in plan
    ]


def arguments():
    """The launch arguments, with their defaults and descriptions (fleet.launch.py reuses them)."""
    default_config = str(Path(get_package_share_directory(PACKAGE)) / 'config')
    return [
        DeclareLaunchArgument(
            'namespace',
            default_value='',
            description='Robot namespace of this stack, e.g. robot_1 (default: the root one)',
        ),
        DeclareLaunchArgument(
            'config_dir',
            default_value=default_config,
            description="Folder holding the nodes' parameter files (default: the installed "
            'share/muse_supervisor/config)',
        ),
        DeclareLaunchArgument(
            'autostart',
            default_value='true',
            description='true: each node configures and activates itself; false: leave that to '
            'a lifecycle manager (docs/LIFECYCLE.md)',
        ),
        DeclareLaunchArgument(
            'use_sim_time',
            default_value='false',
            description='true: every node takes its time from /clock (simulation, bag replay)',
        ),
        DeclareLaunchArgument(
            'log_level',
            default_value='info',
            description='Log level of every node: ' + ', '.join(LOG_LEVELS),
        ),
    ]


def generate_launch_description():
    """Declare the launch arguments and the stack's nodes (resolved when launched)."""
    return LaunchDescription([*arguments(), OpaqueFunction(function=_stack_nodes)])
