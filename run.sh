#!/usr/bin/env bash
# Set up everything (first run only; later runs take about a second) and start the stack.
#
#   ./run.sh [--distro jazzy|kilted] [muse-supervisor up options, e.g. --namespace robot_1]
#
# Runs until Ctrl-C (or --duration SECONDS). See README.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
distro=${MUSE_ROS_DISTRO:-jazzy}
case "${1:-}" in
  --distro) distro=${2:?--distro needs a value: jazzy or kilted}; shift 2 ;;
  --distro=*) distro=${1#--distro=}; shift ;;
esac
"$root/tools/setup.sh" --distro "$distro"
exec "$root/.venv/$distro/bin/muse-supervisor" up "$@"
