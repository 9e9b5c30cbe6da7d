"""The one declaration of the stack, used by the launch file and by ``muse-supervisor up``."""

from muse_supervisor.stack.declaration import (
    PACKAGE,
    STACK,
    NodeDeclaration,
    NodeLaunch,
    StackError,
    fleet_plan,
    launch_plan,
)

__all__ = [
    'PACKAGE',
    'STACK',
    'NodeDeclaration',
    'NodeLaunch',
    'StackError',
    'fleet_plan',
    'launch_plan',
]
