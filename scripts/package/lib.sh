# Shared by the package build and the emulated test suites: Node.js runtimes from the npm registry,
# verified against pinned integrity hashes, and native modules compiled for another CPU.
# Callers set `here` (this directory) and may override `log_prefix`.

log_prefix="${log_prefix:-package}"
die() {
  echo "$log_prefix: error: $*" >&2
  exit 1
}
log() { echo "$log_prefix: $*" >&2; }

cache="${XDG_CACHE_HOME:-$HOME/.cache}/cw-agent-build"
# Build trees per checkout (callers set `checkout` to the repository root): two checkouts building at
# once must not share them. Runtimes are shared; they are verified on every use.
builds="$cache/builds/$(printf '%s' "${checkout:?}" | sha256sum | cut -c1-12)"

runtime_line() {
  local line
  line="$(awk -v a="$1" '$1 == a { print $2, $3, $4 }' "$here/runtimes.conf")"
  [[ -n "$line" ]] || die "no runtime for $1 in runtimes.conf"
  echo "$line"
}

integrity_of() { echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"; }

# fetch_runtime ARCH: prints the directory of the unpacked, verified node-linux-<cpu> package.
fetch_runtime() {
  local name ver integrity key tgz dir published tmp
  read -r name ver integrity < <(runtime_line "$1")
  key="$(printf '%s' "$integrity" | sha256sum | cut -c1-16)"
  tgz="$cache/runtimes/$name-$ver-$key.tgz"
  dir="$cache/runtimes/$name-$ver-$key"
  if [[ -f "$tgz" && "$(integrity_of "$tgz")" != "$integrity" ]]; then
    log "cached $name@$ver does not match its integrity; fetching it again"
    rm -rf -- "$tgz" "$dir"
  fi
  if [[ ! -f "$tgz" ]]; then
    mkdir -p "$cache/runtimes"
    published="$(cd "$cache" && npm view "$name@$ver" dist.integrity)"
    [[ "$published" == "$integrity" ]] ||
      die "the registry publishes $published for $name@$ver; runtimes.conf pins $integrity"
    log "fetching $name@$ver from the npm registry"
    tmp="$(mktemp -d "$cache/runtimes/fetch.XXXXXX")"
    (cd "$tmp" && npm pack --silent "$name@$ver" >/dev/null)
    [[ "$(integrity_of "$tmp/$name-$ver.tgz")" == "$integrity" ]] ||
      die "$name@$ver as downloaded does not match $integrity"
    mv -- "$tmp/$name-$ver.tgz" "$tgz"
    rm -rf -- "$tmp" "$dir"
  fi
  if [[ ! -x "$dir/package/bin/node" ]]; then
    rm -rf -- "$dir"
    mkdir -p "$dir"
    tar -xzf "$tgz" -C "$dir"
  fi
  [[ -x "$dir/package/bin/node" && -f "$dir/package/include/node/node.h" ]] ||
    die "$name@$ver has no bin/node or include/node"
  echo "$dir/package"
}

# armhf_runtime: prints the directory holding Debian trixie's nodejs for armhf (the runtime the armhf
# package depends on) and the libraries it links, glibc 2.38 or newer among them: the cross
# toolchain's glibc is older. The packages are extracted, not installed: seconds, where installing
# them runs dpkg and the maintainer scripts under emulation for minutes. ARM programs find their
# loader and libraries there through /etc/qemu-binfmt/arm (scripts/ci/emulation-setup.sh).
ARMHF_RUNTIME_PACKAGES=nodejs
armhf_runtime() {
  local dir link
  dir="$cache/armhf-runtime-trixie-$(printf '%s' "$ARMHF_RUNTIME_PACKAGES" | sha256sum | cut -c1-12)"
  if [[ ! -x "$dir/usr/bin/node" ]]; then
    log "extracting Debian trixie's $ARMHF_RUNTIME_PACKAGES for armhf (mmdebstrap --variant=extract)"
    rm -rf -- "$dir" "$dir.tmp"
    mkdir -p "$cache"
    mmdebstrap --quiet --variant=extract --arch=armhf --include="$ARMHF_RUNTIME_PACKAGES" \
      trixie "$dir.tmp" http://deb.debian.org/debian >&2 ||
      die "could not fetch Debian trixie's $ARMHF_RUNTIME_PACKAGES for armhf"
    # qemu looks up every path an ARM program opens here first: only /usr may be here, or the
    # program would see this /tmp, /dev and /etc instead of the machine's.
    find "$dir.tmp" -mindepth 1 -maxdepth 1 ! -name usr -exec rm -rf -- {} +
    # Merged /usr: trixie's loader is /lib/ld-linux-armhf.so.3, found through these links.
    for link in bin sbin lib; do ln -sfn "usr/$link" "$dir.tmp/$link"; done
    mv -- "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

triplet_of() {
  case "$1" in
    amd64) echo x86_64-linux-gnu ;;
    arm64) echo aarch64-linux-gnu ;;
    armhf) echo arm-linux-gnueabihf ;;
  esac
}

npm_cpu_of() {
  case "$1" in
    amd64) echo x64 ;;
    arm64) echo arm64 ;;
    armhf) echo arm ;;
  esac
}

# cross_install DIR ARCH NODEDIR [npm ci options]: `npm ci` in DIR for ARCH's CPU without running
# install scripts, then the native modules compiled with ARCH's (cross) compiler against NODEDIR's
# headers. No prebuilt binaries and no headers are downloaded.
cross_install() {
  local dir="$1" arch="$2" nodedir="$3" triplet cpu
  shift 3
  triplet="$(triplet_of "$arch")"
  cpu="$(npm_cpu_of "$arch")"
  command -v "$triplet-g++" >/dev/null ||
    die "$triplet-g++ not found: apt-get install $([[ $arch == amd64 ]] && echo g++ || echo "crossbuild-essential-$arch")"
  (
    cd "$dir"
    npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --cpu="$cpu" --os=linux --libc=glibc "$@"
    if reuse_addons "$dir" "$arch" "$nodedir"; then exit 0; fi
    CC="$triplet-gcc" CXX="$triplet-g++" LINK="$triplet-g++" AR="$triplet-ar" \
      npm_config_arch="$cpu" npm_config_target_arch="$cpu" npm_config_nodedir="$nodedir" \
      npm_config_build_from_source=true \
      npm rebuild --loglevel=error better-sqlite3 i2c-bus epoll >/dev/null
    addon_stamp "$arch" "$nodedir" >.cw-agent-addons
  )
}

ADDONS=(better-sqlite3 i2c-bus epoll)

# What the compiled modules depend on: the target, the headers and the locked module versions (run
# in the directory with the lock file).
addon_stamp() { echo "$1 $2 $(sha256sum <package-lock.json | cut -d' ' -f1)"; }

# reuse_addons DIR ARCH NODEDIR: copies the modules compiled by the package build for the same
# target, headers and lock file (in the same run of CI) instead of compiling them again.
reuse_addons() {
  local dir="$1" arch="$2" nodedir="$3" built="$builds/addon-build/$2" module
  [[ -f "$built/.cw-agent-addons" && "$(cat "$built/.cw-agent-addons")" == "$(addon_stamp "$arch" "$nodedir")" ]] || return 1
  for module in "${ADDONS[@]}"; do
    [[ -d "$built/node_modules/$module/build/Release" ]] || return 1
  done
  for module in "${ADDONS[@]}"; do
    rm -rf "$dir/node_modules/$module/build"
    cp -R "$built/node_modules/$module/build" "$dir/node_modules/$module/build"
  done
  log "reusing the native modules compiled for the $arch package"
}
