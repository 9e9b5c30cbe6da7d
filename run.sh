#!/usr/bin/env bash
# Set up everything (first run only; later runs take about a second) and run the demo: the
# simulated robot, the whole stack and the web HMI through a scripted shift.
#
#   ./run.sh [--distro jazzy|kilted] [muse-supervisor demo options, e.g. --auto-approve]
#
# Ends with the shift (or Ctrl-C). See README.md and docs/DEMO.md; to start the stack on its
# own, `muse-supervisor up` (docs/RUNNING.md).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
prog=run.sh
# shellcheck source=tools/distro.sh
. "$root/tools/distro.sh"
take_distro "$@"
shift "$distro_args"
"$root/tools/setup.sh" --distro "$distro"
exec "$root/.venv/$distro/bin/muse-supervisor" demo "$@"
