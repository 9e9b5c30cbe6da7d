#!/usr/bin/env bash
# Run the whole test suite (lint, type checks, unit, cross-process ROS and colcon-build tests),
# setting up first if needed.
#
#   ./test.sh [--distro jazzy|kilted] [pytest arguments, e.g. -k round_trip]
#
# ROS traffic stays on this host (localhost discovery) in a domain of the run's own unless
# ROS_DOMAIN_ID is set; ROS logs go to a temporary folder unless ROS_LOG_DIR is set.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
distro=${MUSE_ROS_DISTRO:-jazzy}
case "${1:-}" in
  --distro) distro=${2:?--distro needs a value: jazzy or kilted}; shift 2 ;;
  --distro=*) distro=${1#--distro=}; shift ;;
esac
"$root/tools/setup.sh" --distro "$distro" --dev
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
cd "$root"
echo "[test $distro] $("$root/.venv/$distro/bin/python" -c 'import importlib.metadata as m; print("rclpy", m.version("rclpy"))')"
exec "$root/.venv/$distro/bin/python" -m pytest "$@"
