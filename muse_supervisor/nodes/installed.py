"""Where the package's installed files are, with or without a sourced workspace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from muse_supervisor.params import ConfigError


def share_dir() -> Path:
    """The installed ``share/muse_supervisor``: on the ament prefix path, else this environment.

    ``muse-supervisor up`` starts nodes without a sourced workspace (no ``AMENT_PREFIX_PATH``),
    and so does a bare node executable from the venv: both find it under ``sys.prefix``.
    """
    prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
    for prefix in [*prefixes, sys.prefix]:
        share = Path(prefix) / 'share' / 'muse_supervisor'
        if share.is_dir():
            return share
    raise ConfigError(
        f'no share/muse_supervisor under {[*prefixes, sys.prefix]}: install the package, or '
        'name the files in the node parameters'
    )
