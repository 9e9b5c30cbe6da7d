#!/usr/bin/env bash
# Set up a virtual environment for one ROS 2 distribution and build the package into it.
#
#   tools/setup.sh [--distro jazzy|kilted] [--dev]
#
# Idempotent and quick when nothing changed: requirements are re-installed only when their files
# change (a hash stamp), and the CMake build is incremental. Creates
#   .venv/<distro>/   the environment: ROS 2 wheels, Python deps, and the installed package
#   build/<distro>/   the CMake build tree of the package's interfaces
# The distribution can also be chosen with MUSE_ROS_DISTRO (default: jazzy, the LTS).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prog=setup
# shellcheck source=tools/distro.sh
. "$root/tools/distro.sh"
dev=0
while [ $# -gt 0 ]; do
  case "$1" in
    --distro|--distro=*) take_distro "$@"; shift "$distro_args" ;;
    --dev) dev=1; shift ;;
    *) echo "setup: unknown argument '$1'; expected --distro jazzy|kilted and/or --dev" >&2; exit 2 ;;
  esac
done
take_distro  # checks MUSE_ROS_DISTRO when no --distro was given

venv=$root/.venv/$distro
build=$root/build/$distro
python=${PYTHON:-python3.11}
started=$SECONDS
say() { printf '[setup %s %3ds] %s\n' "$distro" $((SECONDS - started)) "$*"; }
# Relay a long step's output as a few timed lines; all of it goes to the log file $1.
#   pip: every tenth package collected, each download of 10 MB or more, then the install.
#   cmake --build: every 10 % of the work (not the "Built target" lines of a build with none).
progress() {
  local log=$1 last=-10 collected=0 pct line
  : >"$log"
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    case "$line" in
      Collecting*)
        collected=$((collected + 1))
        line=${line#Collecting }
        [ $((collected % 10)) = 1 ] && say "  pip: collecting package $collected (${line%% (from*})" ;;
      *Downloading*[0-9][0-9]" MB)"*|*Downloading*[0-9]" GB)"*) say "  pip: ${line#"${line%%Downloading*}"}" ;;
      "Installing collected packages:"*)
        say "  pip: installing $(tr -cd ',' <<<"$line" | wc -c | awk '{print $1 + 1}') packages (torch takes the longest)" ;;
      "Successfully installed"*) say "  pip: done" ;;
      *"Building wheel for "*": started") line=${line#*Building wheel for }; say "  pip: building ${line%% *} from source" ;;
      *"Building wheel for "*": finished"*) line=${line#*Building wheel for }; say "  pip: built ${line%% *}" ;;
      "["*"%] Built target"*) ;;
      "["*"%]"*)
        pct=${line#[}; pct=${pct%%%]*}; pct=${pct// /}
        if [[ $pct =~ ^[0-9]+$ ]] && [ "$pct" -ge $((last + 10)) ]; then last=$pct; say "  build ${pct}%"; fi ;;
    esac
  done
}

# 1. Virtual environment. The ROS 2 wheels are built for CPython 3.11 only.
if [ ! -x "$venv/bin/python" ]; then
  command -v "$python" >/dev/null || { echo "setup: $python not found; the ROS 2 wheels need CPython 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
  say "creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' 2>/dev/null || {
  echo "setup: $venv is not CPython 3.11; delete it and set PYTHON=/path/to/python3.11" >&2; exit 1; }

# 2. Requirements, re-installed only when a requirements file changed.
reqs=("$root/requirements/ros-$distro.txt" "$root/requirements/python.txt")
[ "$dev" = 1 ] && reqs+=("$root/requirements/dev.txt")
stamp=$venv/.muse-requirements
models=$root/requirements/models.txt
want=$(cat "${reqs[@]}" "$models" | sha256sum | cut -c1-64)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  say "installing pinned requirements (${reqs[*]##*/}); pip's log: $venv/pip-install.log"
  pip_args=()
  for r in "${reqs[@]}"; do pip_args+=(-r "$r"); done
  # pip's location warnings about this machine's extra indexes are noise; real errors still show.
  # CMAKE_ARGS: llama-cpp-python (dev) builds llama.cpp from its sdist; GGML_NATIVE=OFF makes
  # that build, and the wheel pip caches from it, portable rather than tuned to this very CPU.
  CMAKE_ARGS=${CMAKE_ARGS:--DGGML_NATIVE=OFF} \
  "$venv/bin/python" -m pip install --progress-bar off "${pip_args[@]}" \
    2> >(grep -v "^WARNING: Location 'file:" >&2) | progress "$venv/pip-install.log" || {
      tail -20 "$venv/pip-install.log" >&2; echo "setup: pip install failed (log: $venv/pip-install.log)" >&2; exit 1; }
  "$venv/bin/python" -m pip install --progress-bar off --no-deps -r "$models" \
    2> >(grep -v "^WARNING: Location 'file:" >&2) | progress "$venv/pip-install.log" || {
      tail -20 "$venv/pip-install.log" >&2; echo "setup: pip install of $models failed" >&2; exit 1; }
  # Exactly one rclpy. The ros-jazzy-rclpy meta-package of earlier set-ups only pinned
  # ros-rclpy (requirements now pin that wheel itself), and the ros-rclpy wheel also carries the
  # egg-info of rclpy's own setup.py, which pip and importlib list as a further "rclpy" with the
  # upstream version number. Neither holds code; both are removed so the list tells the truth.
  if "$venv/bin/python" -m pip show --quiet ros-jazzy-rclpy >/dev/null 2>&1; then
    "$venv/bin/python" -m pip uninstall --quiet --yes ros-jazzy-rclpy
  fi
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  rm -rf "$site"/rclpy-*.egg-info
  # The wheels' exported CMake files name the wheel builder's Python; point them at this venv's.
  # Redone whenever requirements change (docs/SETUP.md explains why).
  say "pointing the wheels' CMake files at this venv's Python"
  py_include=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
  np_include=$("$venv/bin/python" -c 'import numpy; print(numpy.get_include())')
  files=$(grep -rl '/opt/python/cp311-cp311' "$venv/share" --include='*.cmake' || true)
  if [ -n "$files" ]; then
    # shellcheck disable=SC2086
    sed -i -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include#$np_include#g" \
           -e "s#/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/core/include#$np_include#g" \
           -e "s#/opt/python/cp311-cp311/include/python3.11#$py_include#g" $files
  fi
  echo "$want" > "$stamp"
fi

# 2b. Dev only: llama.cpp's model converter. The fleet backend's tests serve a tiny model they
# build and convert to GGUF with the converter the llama-cpp-python sdist vendors (its wheel
# does not ship it): fetched from the package registry once per version, for both distributions
# (build/llama.cpp-convert/<version>/: the converter, its conversion/ and gguf-py/, 2 MB).
if [ "$dev" = 1 ]; then
  llama=$(sed -n 's/^llama-cpp-python\[server\]==\([0-9.]*\).*/\1/p' "$root/requirements/dev.txt")
  convert=$root/build/llama.cpp-convert/$llama
  if [ -n "$llama" ] && [ ! -f "$convert/convert_hf_to_gguf.py" ]; then
    say "fetching llama.cpp's model converter (llama-cpp-python $llama sdist, 77 MB; log: $venv/pip-download.log)"
    sdist=$(mktemp -d)
    "$venv/bin/python" -m pip download --progress-bar off --no-deps --no-binary :all: \
      "llama-cpp-python==$llama" -d "$sdist" 2>&1 | grep -v "^WARNING: Location 'file:" >"$venv/pip-download.log" || true
    [ -f "$sdist/llama_cpp_python-$llama.tar.gz" ] || {
      tail -20 "$venv/pip-download.log" >&2; echo "setup: downloading the llama-cpp-python sdist failed" >&2; exit 1; }
    top=llama_cpp_python-$llama/vendor/llama.cpp
    rm -rf "$convert.part" && mkdir -p "$convert.part"
    tar -xzf "$sdist/llama_cpp_python-$llama.tar.gz" -C "$convert.part" --strip-components=3 \
      "$top/convert_hf_to_gguf.py" "$top/conversion" "$top/gguf-py" "$top/LICENSE"
    rm -rf "$sdist" "$convert" && mv "$convert.part" "$convert"
  fi
fi

# 2c. Dev only: a real browser for the web HMI's tests (test/test_hmi_browser_ros.py): Debian's
# chromium, which Playwright drives (it never downloads a browser of its own). About 25 s and
# 500 MB the first time; needs root or sudo for apt.
if [ "$dev" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the browser tests (apt; log: $venv/apt-chromium.log)"
  sudo_cmd=()
  [ "$(id -u)" = 0 ] || sudo_cmd=(sudo -n)
  { "${sudo_cmd[@]}" apt-get install -y --no-install-recommends chromium ||
    { "${sudo_cmd[@]}" apt-get update && "${sudo_cmd[@]}" apt-get install -y --no-install-recommends chromium; }
  } >"$venv/apt-chromium.log" 2>&1 || {
    tail -20 "$venv/apt-chromium.log" >&2
    echo "setup: installing chromium failed; install Debian's chromium package (apt-get install chromium) and run again" >&2
    exit 1; }
fi

# 3. Interfaces and package: CMake configure (first time), incremental build, install into the venv.
export AMENT_PREFIX_PATH=$venv CMAKE_PREFIX_PATH=$venv PATH=$venv/bin:$PATH
mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  say "configuring the package (interfaces + Python + executables; log: $build/setup-configure.log)"
  cmake -S "$root" -B "$build" -DCMAKE_INSTALL_PREFIX="$venv" -DPython3_EXECUTABLE="$venv/bin/python" \
    -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release >"$build/setup-configure.log" 2>&1 || {
      cat "$build/setup-configure.log" >&2; echo "setup: CMake configure failed (log above)" >&2; exit 1; }
fi
say "building and installing the package (log: $build/setup-build.log)"
cmake --build "$build" -j "$(nproc)" 2>&1 | progress "$build/setup-build.log" || {
  tail -50 "$build/setup-build.log" >&2; echo "setup: build failed (full log: $build/setup-build.log)" >&2; exit 1; }
cmake --install "$build" >"$build/setup-install.log" 2>&1 || {
  tail -20 "$build/setup-install.log" >&2; echo "setup: install failed (full log: $build/setup-install.log)" >&2; exit 1; }
"$venv/bin/python" -c 'from muse_supervisor.msg import Incident' || {
  echo "setup: the built interfaces do not import; see $build/setup-build.log" >&2; exit 1; }
say "ready: $venv"
