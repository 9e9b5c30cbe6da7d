"""Start the muse_supervisor stack for one robot.

    ros2 launch muse_supervisor supervisor.launch.py namespace:=robot_1

The nodes, parameter files and remappings come from the stack declaration
(``muse_supervisor.stack``), the same one ``muse-supervisor up`` uses. For a fleet, include this
file once per robot with a different ``namespace``.
"""

from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription
from muse_supervisor.stack import PACKAGE, launch_plan


def _stack_nodes(context):
    namespace = LaunchConfiguration('namespace').perform(context)
    config_dir = LaunchConfiguration('config_dir').perform(context)
    autostart = LaunchConfiguration('autostart').perform(context).lower() == 'true'
    return [
        Node(
            package=PACKAGE,
            executable=node.declaration.executable,
            name=node.declaration.name,
            namespace=node.namespace,
            parameters=[str(path) for path in node.params_files] + [dict(node.parameters)],
            remappings=list(node.declaration.remappings),
            output='screen',
        )
        for node in launch_plan(Path(config_dir), namespace, autostart=autostart)
    ]


def generate_launch_description():
    """Declare the launch arguments and the stack's nodes (resolved when launched)."""
    default_config = str(Path(get_package_share_directory(PACKAGE)) / 'config')
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                'namespace', default_value='', description='Robot namespace, e.g. robot_1'
            ),
            DeclareLaunchArgument(
                'config_dir',
                default_value=default_config,
                description="Folder holding the nodes' parameter files",
            ),
            DeclareLaunchArgument(
                'autostart',
                default_value='true',
                description='Configure and activate the lifecycle nodes at start-up',
            ),
            OpaqueFunction(function=_stack_nodes),
        ]
    )
