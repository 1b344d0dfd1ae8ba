#!/usr/bin/env bash
# Installs everything pvgpu needs on Debian 12 (system packages and a Python virtual
# environment in .venv), then runs what you ask for:
#   ./setup.sh demo [pvgpu demo options]   render the demo cube through pvgpu
#   ./setup.sh test [pytest options]       run the test suite
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: the Vulkan loader and Mesa's CPU driver (lavapipe) so wgpu renders
# without a GPU; gcc for the C header tests; venv support for Debian's own Python; QEMU, a
# kernel and a static busybox for the VMs (`pvgpu vm run` boots guests on this machine's root).
PACKAGES=(libvulkan1 mesa-vulkan-drivers gcc libc6-dev python3 python3-venv python3-pip
          qemu-system-x86 linux-image-amd64 busybox-static)
# The tests also need an X server without a display (the window presenter under Xvfb), a
# browser (the web viewer, driven by Playwright through Debian's chromium), and g++ (the C
# guest library is built as C++17 too).
[ "${1:-demo}" = test ] && PACKAGES+=(xvfb chromium g++)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.pvgpu-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
  touch "$stamp"
fi

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
what="${1:-demo}"
shift || true
case "$what" in
  demo) exec .venv/bin/pvgpu demo "$@" ;;
  test) exec .venv/bin/python -m pytest "$@" ;;
  bench) exec .venv/bin/pvgpu bench "$@" ;;
  *) echo "usage: ./setup.sh demo|test|bench [options]" >&2; exit 2 ;;
esac
