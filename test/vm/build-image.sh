#!/usr/bin/env bash
# Builds the Debian bookworm guest of the booted-system test, or finds it in the cache.
# The image holds only the operating system; the agent, its package and the test driver come with
# each run on separate disks, so the cache key is a hash of this script and guest-base/.
# Prints the cache directory (vmlinuz, initrd.img, rootfs.raw) on stdout.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${CW_AGENT_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cw-agent-vm}"
key="$(cat "$here/build-image.sh" "$here"/guest-base/* | sha256sum | cut -c1-16)"
out="$cache_root/$key"
log() { printf 'build-image: %s\n' "$*" >&2; }

if [[ -f "$out/complete" ]]; then
  log "cached image $out"
  echo "$out"
  exit 0
fi
[[ "$(id -u)" == 0 ]] || { log "debootstrap needs root"; exit 1; }
mirror="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
mirror="${mirror:-http://deb.debian.org/debian}"

mkdir -p "$cache_root/debs"
work="$(mktemp -d "$cache_root/build.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT
rootfs="$work/rootfs"
start=$SECONDS

# The kernel comes afterwards, once the initramfs is set to MODULES=list: debootstrap would otherwise
# build a 36 MB MODULES=most initrd that costs a minute here and ten seconds of every boot.
log "debootstrap bookworm from $mirror"
debootstrap --variant=minbase --cache-dir="$cache_root/debs" \
  --include=systemd,systemd-sysv,udev,kmod,initramfs-tools,i2c-tools,dosfstools \
  bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -20 "$work/debootstrap.log" >&2
  exit 1
}
log "debootstrap done after $((SECONDS - start)) s"
sed -i 's/^MODULES=.*/MODULES=list/' "$rootfs/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >>"$rootfs/etc/initramfs-tools/modules"
DEBIAN_FRONTEND=noninteractive chroot "$rootfs" apt-get install -y -q --no-install-recommends \
  linux-image-amd64 >"$work/kernel.log" 2>&1 || {
  tail -20 "$work/kernel.log" >&2
  exit 1
}
log "kernel installed after $((SECONDS - start)) s"

kernel="$(basename "$(ls "$rootfs"/boot/vmlinuz-* | head -1)")"
release="${kernel#vmlinuz-}"
# Drivers a headless virtio guest never loads: smaller image, faster mkfs and depmod.
for dir in drivers/gpu drivers/media drivers/net/wireless drivers/infiniband drivers/staging sound net/wireless \
  net/bluetooth drivers/bluetooth drivers/scsi drivers/isdn drivers/net/ethernet; do
  rm -rf -- "$rootfs/lib/modules/$release/kernel/$dir"
done
chroot "$rootfs" depmod "$release"
chroot "$rootfs" update-initramfs -u -k "$release" >/dev/null

install -m 0644 "$here/guest-base/fstab" "$rootfs/etc/fstab"
install -m 0644 "$here/guest-base/vmtest.service" "$here/guest-base/vmtest-early.service" "$rootfs/etc/systemd/system/"
install -m 0644 "$here/guest-base/blacklist-i2c.conf" "$rootfs/etc/modprobe.d/vmtest-blacklist-i2c.conf"
mkdir -p "$rootfs/boot/firmware" "$rootfs/opt/vmtest"
systemctl --root="$rootfs" enable vmtest.service vmtest-early.service >/dev/null 2>&1
# A getty on the console would hang up the driver's output; timers would compete with the test.
systemctl --root="$rootfs" mask serial-getty@ttyS0.service getty@tty1.service getty.target \
  apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer e2scrub_reap.service \
  fstrim.timer systemd-pstore.service >/dev/null 2>&1
echo cw-vmtest >"$rootfs/etc/hostname"
chroot "$rootfs" passwd -d root >/dev/null
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/*_Packages

mkdir -p "$work/out"
cp "$rootfs/boot/$kernel" "$work/out/vmlinuz"
cp "$rootfs/boot/initrd.img-$release" "$work/out/initrd.img"
truncate -s 2G "$work/out/rootfs.raw"
mkfs.ext4 -q -F -L root -d "$rootfs" "$work/out/rootfs.raw"
echo "$release" >"$work/out/kernel-release"
touch "$work/out/complete"
rm -rf -- "$out"
mv "$work/out" "$out"
# Images built by other versions of this script are dead weight (about 1 GB each).
for old in "$cache_root"/*/complete; do
  [[ -e "$old" && "$(dirname "$old")" != "$out" ]] && rm -rf -- "$(dirname "$old")"
done
log "image built in $((SECONDS - start)) s: $out"
echo "$out"
