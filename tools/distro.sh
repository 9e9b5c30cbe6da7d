# Sourced by run.sh, test.sh and tools/setup.sh: which ROS 2 distribution to use.
#
#   take_distro "$@"   reads a leading --distro NAME / --distro=NAME, sets $distro (default:
#                      $MUSE_ROS_DISTRO, else jazzy) and $distro_args (how many arguments it
#                      used, for the caller to shift); exits 2 with a plain message on a bad value.
# $prog names the calling script in messages.

distro=${MUSE_ROS_DISTRO:-jazzy}
distro_args=0

take_distro() {
  case "${1:-}" in
    --distro)
      if [ $# -lt 2 ] || [ -z "$2" ] || [ "${2#-}" != "$2" ]; then
        echo "$prog: --distro needs a value: jazzy (default) or kilted" >&2
        exit 2
      fi
      distro=$2; distro_args=2 ;;
    --distro=*) distro=${1#--distro=}; distro_args=1 ;;
    *) distro_args=0 ;;
  esac
  case "$distro" in
    jazzy|kilted) ;;
    *) echo "$prog: unsupported ROS 2 distribution '$distro'; expected jazzy (default) or kilted" >&2
       exit 2 ;;
  esac
}
