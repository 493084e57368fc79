#!/usr/bin/env bash
# CI stages for the packages: builds the .deb packages for amd64, arm64 and armhf, checks them with
# lintian and for reproducibility, then the package tests (test/package): the packaged agent pairs,
# restarts and passes check on amd64 and, under qemu-user, on arm64 (its bundled node) and armhf
# (Debian trixie's nodejs). .ci/run then runs the whole suite on emulated ARM
# (scripts/ci/test-emulated.sh). Prints the time of each stage. Needs root (binfmt_misc).
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

here="$PWD/scripts/package"
checkout="$PWD"
log_prefix=ci
# shellcheck source=scripts/package/lib.sh
source "$here/lib.sh"

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
  CW_AGENT_PACKAGE_REQUIRED=amd64,arm64,armhf CW_AGENT_PACKAGE_NODE_ARMHF="$(armhf_runtime)/usr/bin/node" \
    npx vitest run test/package
}

stage "emulation setup" bash scripts/ci/emulation-setup.sh
stage "packages (all)" npm run package --silent -- --arch all
ls -l dist/packages
stage "lintian" lint
stage "reproducible (amd64)" reproducible
stage "package tests" package_tests

echo "ci: stage timings"
printf 'ci:   %s\n' "${timings[@]}"
