"""The package builds with colcon in an ordinary ROS 2 workspace, and runs from there.

This is the path ROS users take (``colcon build``, ``source install/setup.bash``, ``ros2 run``);
testing it here keeps it from rotting while day-to-day work uses the venv install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SOURCES = ['package.xml', 'CMakeLists.txt', 'setup.py', 'cmake', 'msg', 'srv', 'action']
SOURCES += ['muse_supervisor', 'launch', 'config', 'LICENSE']


def test_colcon_build_and_run_from_the_install_space(tmp_path: Path) -> None:
    colcon = Path(sys.prefix) / 'bin' / 'colcon'
    assert colcon.exists(), 'colcon is installed by the test set-up (requirements/dev.txt)'
    source = tmp_path / 'ws' / 'src' / 'muse_supervisor'
    source.mkdir(parents=True)
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns('__pycache__'))
        else:
            shutil.copy2(path, source / name)
    env = dict(os.environ)
    env.update(
        PATH=f'{sys.prefix}/bin:{env["PATH"]}',
        AMENT_PREFIX_PATH=sys.prefix,
        CMAKE_PREFIX_PATH=sys.prefix,
    )
    build = subprocess.run(
        [str(colcon), 'build', '--cmake-args', f'-DPython3_EXECUTABLE={sys.executable}',
         '-DBUILD_TESTING=OFF'],
        cwd=tmp_path / 'ws', env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    install = tmp_path / 'ws' / 'install' / 'muse_supervisor'
    assert (
        install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'muse_supervisor'
    ).exists()

    # What `source install/setup.bash` + `ros2 run muse_supervisor safety_gate_node` amounts to;
    # the venv is re-added to AMENT_PREFIX_PATH, as docs/SETUP.md describes.
    script = (
        f'source {tmp_path}/ws/install/setup.bash && '
        f'export AMENT_PREFIX_PATH=$AMENT_PREFIX_PATH:{sys.prefix} && '
        'python -c "import muse_supervisor.msg, muse_supervisor.stack, sys; '
        'print(muse_supervisor.msg.__file__); print(muse_supervisor.stack.__file__)" && '
        'muse-supervisor up --only safety_gate --namespace colcon_ws --duration 0.5'
    )
    run = subprocess.run(
        ['bash', '-c', script],
        cwd=tmp_path,  # not the source checkout: the installed package must be the one found
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    msg_file, stack_file = run.stdout.splitlines()[:2]
    assert msg_file.startswith(str(install)) and stack_file.startswith(str(install))
    assert '/colcon_ws/safety_gate' in run.stdout and ' active ' in run.stdout
