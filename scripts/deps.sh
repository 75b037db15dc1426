#!/usr/bin/env bash
# deps.sh [build|test]: installs the Debian/Ubuntu packages Porch needs, only those missing.
#   build: the cgo toolchain and the X11/GL headers the Fyne GLFW driver compiles against.
#   test:  build's packages plus what the test suite uses (Xvfb and Mesa's software GL, iproute2
#          and ping for the network-namespace harness, xdotool, ImageMagick for screenshots, a D-Bus
#          session bus and dunst, a notification server, for the tray and notification checks).
# Uses sudo when not root. On systems without apt-get it prints what to install and exits 1.
set -euo pipefail

want=(gcc libc6-dev pkg-config libgl-dev libx11-dev libxcursor-dev libxrandr-dev
      libxinerama-dev libxi-dev libxxf86vm-dev)
if [[ ${1:-build} == test ]]; then
  want+=(xvfb xauth libgl1-mesa-dri xdotool imagemagick iproute2 iputils-ping util-linux
         procps curl git dbus-daemon dbus-bin dunst)
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "deps.sh: please install the equivalents of: ${missing[*]}" >&2
  exit 1
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
echo "deps.sh: installing ${missing[*]}" >&2
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
