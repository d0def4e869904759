#!/usr/bin/env bash
# Installs what KdumpSharp's tests, demo and benches need on Debian 12. Idempotent:
# packages already present are skipped, kernels already cached are not fetched again.
set -euo pipefail

packages=(
  qemu-system-x86 qemu-utils cpio e2fsprogs xz-utils zstd kmod
  makedumpfile kexec-tools crash python3-drgn
  liblz4-dev libzstd-dev liblzo2-dev libsnappy-dev
  busybox-static
  time  # GNU time: kds-bench reads peak RSS through it
)

sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
apt_updated=0
apt_update() {
  [ "$apt_updated" -eq 1 ] && return
  $sudo_cmd apt-get update -qq
  apt_updated=1
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Guest kernels for the VM tests, cached outside the repository.
cache="${KDS_CACHE:-/var/cache/kdumpsharp-test}"
mkdir -p "$cache/kernels"
for pkg in linux-image-6.1.0-56-amd64 linux-image-6.12.117+deb12-amd64-unsigned; do
  dir="$cache/kernels/$pkg"
  [ -f "$dir/.complete" ] && continue
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  echo "setup: fetching $pkg"
  apt_update
  (cd "$dir.tmp" && apt-get download -qq "$pkg" && dpkg-deb -x ./*.deb root && rm -f ./*.deb)
  touch "$dir.tmp/.complete"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
done

# Debian's kernel packages ship no modules.dep (postinst runs depmod on the installed system),
# so generate it for each unpacked kernel; the VM tests resolve module closures from it.
for moddir in "$cache"/kernels/*/root/lib/modules/*; do
  [ -d "$moddir" ] || continue
  [ -s "$moddir/modules.dep" ] && continue
  echo "setup: depmod $(basename "$moddir")"
  depmod -b "${moddir%/lib/modules/*}" "$(basename "$moddir")"
done
echo "setup: ready (cache $cache)"
