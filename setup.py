"""Python packaging metadata of the hand-written part of muse_supervisor.

The package is built by CMake/colcon (package.xml says ament_cmake): only that step generates the
interfaces (``muse_supervisor.msg/srv/action``) and installs everything together. This file lets
Python tooling (pip, IDEs) see the same package and executables, e.g. ``pip install --no-deps .``
into an environment where the interfaces are already installed.

The distribution is deliberately *not* named ``muse_supervisor``: pip would take the
CMake-installed package for the same distribution and, on upgrade or uninstall, delete the
generated ``msg``, ``srv`` and ``action`` modules with it.
"""

from setuptools import find_packages, setup

# Must match _entry_points in CMakeLists.txt; test/test_stack_declaration.py checks that it does.
ENTRY_POINTS = [
    'perception_node = muse_supervisor.nodes.perception_node:main',
    'reasoner_node = muse_supervisor.nodes.reasoner_node:main',
    'plan_simulator_node = muse_supervisor.nodes.plan_simulator_node:main',
    'safety_gate_node = muse_supervisor.nodes.safety_gate_node:main',
    'hmi_bridge_node = muse_supervisor.nodes.hmi_bridge_node:main',
    'sim_world_node = muse_supervisor.nodes.sim_world_node:main',
    'muse-supervisor = muse_supervisor.cli:main',
]

setup(
    name='muse-supervisor-nodes',
    version='0.1.0',
    description='Semantic supervisory node stack for ROS 2 robots (nodes, core, CLI)',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=find_packages(include=['muse_supervisor', 'muse_supervisor.*']),
    install_requires=['PyYAML'],
    entry_points={'console_scripts': ENTRY_POINTS},
)
