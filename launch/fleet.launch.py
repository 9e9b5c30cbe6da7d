"""Start one muse_supervisor stack per robot of a fleet, each in its robot's namespace.

    ros2 launch muse_supervisor fleet.launch.py robots:='robot_1 robot_2 site_b/robot_3'

Includes ``supervisor.launch.py`` once per robot, passing the other arguments on unchanged. A
robot named twice (``robot_1`` and ``/robot_1``) is refused, and a node that exits in any stack
shuts the whole fleet launch down. Every argument is described in docs/RUNNING.md.
"""

import importlib.util
from pathlib import Path

from launch.actions import (
    DeclareLaunchArgument,
    GroupAction,
    IncludeLaunchDescription,
    OpaqueFunction,
)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration

from launch import LaunchDescription
from muse_supervisor.stack import fleet_plan

ROBOT_STACK = Path(__file__).resolve().with_name('supervisor.launch.py')
PASSED_ON = ('config_dir', 'autostart', 'use_sim_time', 'log_level')


def _robot_stack_arguments():
    spec = importlib.util.spec_from_file_location('muse_supervisor_robot_launch', ROBOT_STACK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [a for a in module.arguments() if a.name in PASSED_ON]


def _stacks(context):
    robots = LaunchConfiguration('robots').perform(context).replace(',', ' ').split()
    if not robots:
        raise ValueError("launch argument robots:='' names no robot; e.g. robots:='robot_1'")
    config_dir = LaunchConfiguration('config_dir').perform(context)
    fleet_plan(Path(config_dir), robots)  # refuses a robot named twice, or a bad namespace
    passed = {name: LaunchConfiguration(name).perform(context) for name in PASSED_ON}
    return [
        GroupAction(
            [
                IncludeLaunchDescription(
                    PythonLaunchDescriptionSource(str(ROBOT_STACK)),
                    launch_arguments={'namespace': robot, **passed}.items(),
                )
            ],
            scoped=True,
        )
        for robot in robots
    ]


def generate_launch_description():
    """Declare the fleet's arguments; one included robot stack per robot (resolved at launch)."""
    robots = DeclareLaunchArgument(
        'robots',
        default_value='robot_1 robot_2',
        description='Robot namespaces, separated by spaces or commas; one stack each',
    )
    return LaunchDescription([robots, *_robot_stack_arguments(), OpaqueFunction(function=_stacks)])
