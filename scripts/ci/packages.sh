#!/usr/bin/env bash
# CI stages for the packages and ARM: builds the .deb packages for amd64, arm64 and armhf, checks
# them with lintian and for reproducibility, then the package tests (test/package): the packaged
# agent pairs, restarts and passes check on amd64 and, under qemu-user, on arm64 (.ci/run then runs
# the whole suite on emulated arm64: scripts/ci/test-emulated.sh). With
# CW_AGENT_CI_ARMHF_SUITE=1 it also runs the suite on emulated armhf in a Debian trixie armhf root and
# installs the armhf package there with dpkg. Prints the time of each stage.
# Needs root (binfmt_misc, chroot, mounts).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

timings=()
stage() {
  local name="$1" started=$SECONDS
  shift
  echo "ci: == $name"
  "$@"
  timings+=("$(printf '%-28s %4d s' "$name" $((SECONDS - started)))")
}

need=()
command -v dpkg-deb >/dev/null || need+=(dpkg-dev)
command -v lintian >/dev/null || need+=(lintian)
command -v g++ >/dev/null || need+=(g++ make)
if ((${#need[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

armhf_root="$(mktemp -d /tmp/cw-agent-armhf-root.XXXXXX)"
cleanup() {
  for mount in "$armhf_root/tmp" "$armhf_root/dev" "$armhf_root/proc"; do
    mountpoint -q "$mount" && umount -l "$mount"
  done
  rm -rf --one-file-system "$armhf_root"
}
trap cleanup EXIT

# A second build of the amd64 package from the same commit must be byte-identical to the first.
reproducible() {
  local again
  again="$(mktemp -d)"
  bash scripts/package/build.sh --arch amd64 --out "$again" 2>/dev/null
  cmp dist/packages/cw-agent_*_amd64.deb "$again"/cw-agent_*_amd64.deb
  echo "ci: two builds of the amd64 package are identical: $(sha256sum "$again"/*.deb | cut -d' ' -f1)"
  rm -rf "$again"
}

lint() {
  # Errors fail; warnings are listed (the kept ones are explained in docs/packaging.md).
  lintian --fail-on error --no-tag-display-limit dist/packages/cw-agent_*.deb
}

package_tests() {
  mount --bind /proc "$armhf_root/proc"
  mount --bind /dev "$armhf_root/dev"
  mount -t tmpfs tmpfs "$armhf_root/tmp"
  CW_AGENT_PACKAGE_REQUIRED=amd64,arm64,armhf CW_AGENT_PACKAGE_ROOT_ARMHF="$armhf_root" \
    npx vitest run test/package
}

stage "emulation setup" bash scripts/ci/emulation-setup.sh
stage "packages (all)" npm run package --silent -- --arch all
ls -l dist/packages
stage "lintian" lint
stage "reproducible (amd64)" reproducible
# The armhf suite needs a Debian trixie armhf root first (mmdebstrap, about 7 minutes here) and then
# runs as long as the arm64 one: together more than the CI time budget allows on two cores.
if [[ "${CW_AGENT_CI_ARMHF_SUITE:-0}" == 1 ]]; then
  stage "suite on armhf" env CW_AGENT_ARMHF_ROOT="$armhf_root" bash scripts/ci/test-emulated.sh armhf
  stage "package tests" package_tests
else
  stage "package tests" env CW_AGENT_PACKAGE_REQUIRED=amd64,arm64 npx vitest run test/package
fi

echo "ci: stage timings"
printf 'ci:   %s\n' "${timings[@]}"
