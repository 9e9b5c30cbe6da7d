"""Print which rclpy this environment runs: the distribution that installed it and its sources.

The test banner prints this line. The ``ros-rclpy`` wheel's version (what requirements pin) and
the version in rclpy's own ``package.xml`` (the upstream sources it was built from) can differ,
so both are shown; more than one installed distribution claiming rclpy is an error of the set-up.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path


def rclpy_distributions() -> dict[str, str]:
    """Installed distributions whose name mentions rclpy, with their versions."""
    found = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata['Name'] or ''
        if 'rclpy' in name.lower():
            found[name] = dist.version
    return found


def upstream_version(prefix: Path) -> str:
    """The version in ``share/rclpy/package.xml`` under ``prefix`` ('?' when absent)."""
    try:
        text = (prefix / 'share' / 'rclpy' / 'package.xml').read_text()
    except OSError:
        return '?'
    match = re.search(r'<version>\s*([^<\s]+)\s*</version>', text)
    return match[1] if match else '?'


def main() -> int:
    """Print the line; exit 1 when not exactly one distribution provides rclpy."""
    dists = rclpy_distributions()
    wheels = ', '.join(f'{name} {version}' for name, version in sorted(dists.items()))
    upstream = upstream_version(Path(sys.prefix))
    print(f'rclpy from {wheels or "nothing"} (upstream package.xml {upstream})')
    return 0 if len(dists) == 1 else 1


if __name__ == '__main__':
    sys.exit(main())
