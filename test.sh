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
prog=test.sh
# shellcheck source=tools/distro.sh
. "$root/tools/distro.sh"
take_distro "$@"
shift "$distro_args"
"$root/tools/setup.sh" --distro "$distro" --dev
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
cd "$root"
echo "[test $distro] $("$root/.venv/$distro/bin/python" "$root/tools/rclpy_version.py")"
exec "$root/.venv/$distro/bin/python" -m pytest "$@"
