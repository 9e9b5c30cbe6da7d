#!/usr/bin/env bash
# Set up everything (first run only; later runs take about a second) and start the stack.
#
#   ./run.sh [--distro jazzy|kilted] [muse-supervisor up options, e.g. --namespace robot_1]
#
# Runs until Ctrl-C (or --duration SECONDS). See README.md and docs/RUNNING.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=run.sh
# shellcheck source=tools/distro.sh
. "$root/tools/distro.sh"
take_distro "$@"
shift "$distro_args"
"$root/tools/setup.sh" --distro "$distro"
exec "$root/.venv/$distro/bin/muse-supervisor" up "$@"
