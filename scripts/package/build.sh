#!/usr/bin/env bash
# Builds the Debian packages of cw-agent: the agent bundled into one JavaScript file, its native
# modules compiled for the target CPU and Node.js ABI, and (amd64, arm64) the Node.js runtime.
# Only the npm registry and Debian's apt repositories are used; nothing runs npm or a compiler on
# the device. Layout, runtimes and the reasons behind them: docs/packaging.md.
#
#   scripts/package/build.sh --arch arm64|armhf|amd64|all [--out DIR]
#
# Needs: node and npm, dpkg-deb, gcc/g++ and crossbuild-essential-arm64 / -armhf for ARM.
# Downloaded runtimes are cached in ${XDG_CACHE_HOME:-~/.cache}/cw-agent-build, keyed by package,
# version and integrity, and verified against the pinned integrity on every use.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/scripts/package"
out="$root/dist/packages"
arches=()

checkout="$root"
# shellcheck source=scripts/package/lib.sh
source "$here/lib.sh"

while (($#)); do
  case "$1" in
    --arch)
      [[ $# -ge 2 ]] || die "--arch needs a value"
      case "$2" in
        all) arches+=(amd64 arm64 armhf) ;;
        amd64 | arm64 | armhf) arches+=("$2") ;;
        *) die "unknown architecture '$2' (amd64, arm64, armhf or all)" ;;
      esac
      shift 2
      ;;
    --out)
      [[ $# -ge 2 ]] || die "--out needs a value"
      out="$(mkdir -p "$2" && cd "$2" && pwd)"
      shift 2
      ;;
    -h | --help)
      sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
((${#arches[@]})) || die "no --arch given (amd64, arm64, armhf or all)"

mkdir -p "$cache/runtimes" "$out"
cd "$root"

version="$(node -p 'require("./package.json").version')"
# Release builds name the real maintainer; the default is a reserved, undeliverable address.
maintainer="${CW_AGENT_PACKAGE_MAINTAINER:-cw-agent maintainers <maintainers@cw-agent.invalid>}"
# Every file in the package gets this time, so two builds of one commit are identical.
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
fi
export SOURCE_DATE_EPOCH
export TZ=UTC LC_ALL=C

# --- the agent, bundled (architecture-independent) ------------------------------------------------

# Native modules stay outside the bundle: they locate their .node files relative to their own
# package directory. Everything else, including mqtt and pino, becomes one file, so start-up reads
# one file instead of hundreds from an SD card.
NATIVE_EXTERNALS=(better-sqlite3 i2c-bus onoff)

# CommonJS, not ESM: an ES module's `import ... from "node:http"` makes Node.js evaluate every export
# of the built-in module, and http's include undici (about 50 ms of the start-up on a fast x86 CPU),
# which require() leaves unloaded until a request needs it. The CommonJS loader also takes Node.js's
# compile cache (NODE_COMPILE_CACHE, set by the units) for the bundle itself. The sources are ES
# modules, strict throughout: the banner says so first, where a directive counts.
bundle_agent() {
  local dest="$1" args=()
  for module in "${NATIVE_EXTERNALS[@]}"; do args+=("--external:$module"); done
  "$root/node_modules/.bin/esbuild" "$root/src/cli.ts" --bundle --platform=node --format=cjs \
    --target=node20 --minify-whitespace --minify-syntax --legal-comments=none --log-level=warning --metafile="${dest%.js}.meta.json" \
    "--define:import.meta.url=__cwModuleUrl" \
    "--banner:js=\"use strict\";const __cwModuleUrl=require('node:url').pathToFileURL(__filename).href;" \
    "${args[@]}" --outfile="$dest"
}

# --- Node.js runtimes from the npm registry --------------------------------------------------------

# --- native modules -------------------------------------------------------------------------------

# Files of each production module that the agent needs at run time: its JavaScript, the compiled
# addon, the license. Sources, build trees and documentation stay out.
RUNTIME_MODULES=(
  "better-sqlite3 package.json LICENSE lib build/Release/better_sqlite3.node"
  "bindings package.json LICENSE.md bindings.js"
  "file-uri-to-path package.json LICENSE index.js"
  "i2c-bus package.json LICENSE i2c-bus.js build/Release/i2c.node"
  "onoff package.json LICENSE onoff.js"
  "epoll package.json LICENSE epoll.js build/Release/epoll.node"
  "lodash.debounce package.json LICENSE index.js"
)

# build_addons ARCH NODEDIR DEST: the production modules, compiled with the cross toolchain
# against NODEDIR's headers, copied to DEST/node_modules.
build_addons() {
  local arch="$1" nodedir="$2" dest="$3" triplet work spec module file
  triplet="$(triplet_of "$arch")"
  # A fixed directory: compilers write the build path into the objects, and the build id with it.
  work="$builds/addon-build/$arch"
  rm -rf -- "$work"
  mkdir -p "$work"
  cp "$root/package.json" "$root/package-lock.json" "$work/"
  cross_install "$work" "$arch" "$nodedir" --omit=dev
  for spec in "${RUNTIME_MODULES[@]}"; do
    read -r module files <<<"$spec"
    for file in $files; do
      [[ -e "$work/node_modules/$module/$file" ]] || die "$module has no $file after the build"
      mkdir -p "$dest/node_modules/$module/$(dirname "$file")"
      cp -R "$work/node_modules/$module/$file" "$dest/node_modules/$module/$file"
    done
  done
  while IFS= read -r -d '' file; do
    "$triplet-strip" --strip-unneeded "$file"
  done < <(find "$dest/node_modules" -name '*.node' -print0)
}

# --- package metadata -----------------------------------------------------------------------------

# Depends: the C and C++ runtime versions the binaries ask for (what dpkg-shlibdeps would find,
# without needing the target's libraries installed).
elf_depends() {
  local stage="$1" triplet="$2" glibc glibcxx gcc_major
  local -a elves
  mapfile -d '' elves < <(find "$stage" -type f \( -name '*.node' -o -path '*/bin/node' \) -print0)
  glibc="$("$triplet-objdump" -T "${elves[@]}" 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' | sort -t. -k2,2n -u | tail -1)"
  glibcxx="$("$triplet-objdump" -T "${elves[@]}" 2>/dev/null | grep -o 'GLIBCXX_3\.4\.[0-9]*' | sort -t. -k3,3n -u | tail -1)"
  local depends="libc6 (>= ${glibc#GLIBC_})"
  if [[ -n "$glibcxx" ]]; then
    # GLIBCXX_3.4.N first shipped with: 28 gcc 9, 29 gcc 11, 30 gcc 12, 31 gcc 13, 32 gcc 14.
    case "${glibcxx#GLIBCXX_3.4.}" in
      2[0-8]) gcc_major=9 ;;
      29) gcc_major=11 ;;
      30) gcc_major=12 ;;
      31) gcc_major=13 ;;
      *) gcc_major=14 ;;
    esac
    depends+=", libstdc++6 (>= $gcc_major), libgcc-s1"
  fi
  echo "$depends"
}

installed_size() { du -sk --apparent-size "$1" | cut -f1; }

# The cw-agent command is the repository's launcher (bin/cw-agent) with the package's paths: it
# keeps Node.js from acting on an --env-file meant for the agent.
# package_launcher TO NODE CLI
package_launcher() {
  local to="$1" node="$2" cli="$3" from="$root/bin/cw-agent"
  [[ "$(grep -c '^node=' "$from")" == 1 && "$(grep -c '^cli=' "$from")" == 1 ]] ||
    die "$from has no single node= and cli= line to point at the package"
  sed -e "s#^node=.*#node=$node#" -e "s#^cli=.*#cli=$cli#" "$from" >"$to"
}

# The packaged units are the repository's, with ExecStart pointing at the packaged agent.
# package_unit FROM TO NODE [COMMAND]: COMMAND is the cw-agent command the unit runs (default run).
package_unit() {
  local from="$1" to="$2" node="$3" command="${4:-run}"
  local pattern="^ExecStart=/usr/bin/node /opt/cw-agent/dist/src/cli\\.js $command\$"
  [[ "$(grep -c "$pattern" "$from")" == 1 ]] ||
    die "$from has no line 'ExecStart=/usr/bin/node /opt/cw-agent/dist/src/cli.js $command' to point at the package"
  sed -e "s#$pattern#ExecStart=$node /usr/lib/cw-agent/lib/cli.js $command#" \
    -e 's#^\(\# Installed by\) install\.sh into /etc/systemd/system#\1 the cw-agent package into /lib/systemd/system#' \
    "$from" >"$to"
}

# copyright STAGE RUNTIME_LICENSE: the machine-readable copyright file. The license texts of the
# modules in the bundle are copied next to it, one file each.
copyright() {
  local stage="$1" runtime_license="$2" name ver license file doc="$1/usr/share/doc/cw-agent"
  mkdir -p "$doc/licenses"
  cat <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: cw-agent
Comment: usr/lib/cw-agent/lib/cli.js bundles the agent and the npm modules listed in
 /usr/share/doc/cw-agent/licenses/MODULES; the license text of each is in that directory.

Files: *
Copyright: $(date -u -d "@$SOURCE_DATE_EPOCH" +%Y) cw-agent contributors
License: MIT

Files: usr/lib/cw-agent/node_modules/*
Copyright: the authors named in each module's LICENSE file
License: MIT
EOF
  if [[ -n "$runtime_license" ]]; then
    printf '\nFiles: usr/lib/cw-agent/node/*\nCopyright: Node.js contributors and the authors of its dependencies\n'
    printf 'License: Node.js\n See /usr/lib/cw-agent/node/LICENSE: the MIT license of Node.js followed by the\n licenses of the libraries built into the node binary.\n'
  fi
  printf '\nLicense: MIT\n'
  sed -e 's/^[[:space:]]*$/./' -e 's/^/ /' "$root/packaging/debian/mit-license"
  local modules="$builds/bundle/modules.tsv"
  node "$root/dist/scripts/package/bundled-licenses.js" "$builds/bundle/cli.meta.json" "$root" >"$modules"
  while IFS=$'\t' read -r name ver license file; do
    [[ -n "$file" ]] || die "bundled module $name@$ver has no license file"
    cp "$file" "$doc/licenses/${name//\//_}@$ver"
    printf '%s@%s\t%s\n' "$name" "$ver" "$license" >>"$doc/licenses/MODULES"
  done <"$modules"
}

# The overrides naming the bundled runtime do not apply to armhf, which has none.
lintian_overrides() {
  if [[ "$1" == armhf ]]; then
    awk '/usr\/lib\/cw-agent\/node\// { comment = ""; next } /^#/ { comment = comment $0 "\n"; next } { printf "%s%s\n", comment, $0; comment = "" }' \
      "$root/packaging/debian/lintian-overrides"
  else
    cat "$root/packaging/debian/lintian-overrides"
  fi
}

# --- one package ----------------------------------------------------------------------------------

build_one() {
  local arch="$1" triplet runtime nodedir node_path stage deb depends started
  started=$SECONDS
  triplet="$(triplet_of "$arch")"
  runtime="$(fetch_runtime "$arch")"
  nodedir="$runtime"
  stage="$builds/stage/$arch"
  rm -rf -- "$stage"
  mkdir -p "$stage/DEBIAN" "$stage/usr/lib/cw-agent/lib" "$stage/usr/bin" "$stage/lib/systemd/system" \
    "$stage/etc/cw-agent" "$stage/usr/share/doc/cw-agent" "$stage/usr/share/lintian/overrides"

  local lib="$stage/usr/lib/cw-agent" runtime_license=""
  if [[ "$arch" == armhf ]]; then
    # Debian's nodejs (trixie: 20.19): the registry's armv7l build only supplies the headers.
    node_path=/usr/bin/node
  else
    mkdir -p "$lib/node/bin"
    cp "$runtime/bin/node" "$lib/node/bin/node"
    # The official binary carries debug information: a third of its size, unused on a gateway.
    # The dynamic symbol table that native modules link against stays.
    "$triplet-strip" --strip-unneeded "$lib/node/bin/node"
    cp "$runtime/LICENSE" "$lib/node/LICENSE"
    runtime_license="$runtime/LICENSE"
    node_path=/usr/lib/cw-agent/node/bin/node
  fi

  log "$arch: building native modules for $(basename "$(dirname "$runtime")")"
  build_addons "$arch" "$nodedir" "$lib"
  cp "$builds/bundle/cli.js" "$lib/lib/cli.js"
  # The agent reads its version and the earliest plausible clock from this file.
  node -e 'const p=require(process.argv[1]); process.stdout.write(JSON.stringify({name:p.name,version:p.version,private:true,type:"commonjs"},null,2)+"\n")' \
    "$root/package.json" >"$lib/package.json"

  package_launcher "$stage/usr/bin/cw-agent" "$node_path" /usr/lib/cw-agent/lib/cli.js
  # The manual page and the bash completion, generated from the command table (npm run docs:man).
  mkdir -p "$stage/usr/share/man/man8" "$stage/usr/share/bash-completion/completions"
  gzip -9n <"$root/docs/man/cw-agent.8" >"$stage/usr/share/man/man8/cw-agent.8.gz"
  cp "$root/packaging/bash-completion/cw-agent" "$stage/usr/share/bash-completion/completions/cw-agent"
  package_unit "$root/systemd/cw-agent.service" "$stage/lib/systemd/system/cw-agent.service" "$node_path"
  package_unit "$root/systemd/cw-agent@.service" "$stage/lib/systemd/system/cw-agent@.service" "$node_path"
  # Flash and go (docs/flash-and-go.md): cw-agent.txt from the boot partition, i2c-dev at every
  # boot, and I2C buses that appear while an agent runs made usable to it.
  package_unit "$root/systemd/cw-agent-boot-config.service" \
    "$stage/lib/systemd/system/cw-agent-boot-config.service" "$node_path" apply-boot-config
  cp "$root/systemd/cw-agent-i2c-refresh.service" "$stage/lib/systemd/system/cw-agent-i2c-refresh.service"
  mkdir -p "$stage/lib/udev/rules.d" "$stage/usr/lib/modules-load.d"
  cp "$root/systemd/cw-agent-i2c.rules" "$stage/lib/udev/rules.d/60-cw-agent-i2c.rules"
  cp "$root/systemd/cw-agent-modules.conf" "$stage/usr/lib/modules-load.d/cw-agent.conf"
  cp "$root/systemd/cw-agent.env" "$stage/etc/cw-agent/cw-agent.env"

  copyright "$stage" "$runtime_license" >"$stage/usr/share/doc/cw-agent/copyright"
  printf 'cw-agent (%s) unstable; urgency=medium\n\n  * Release %s.\n\n -- %s  %s\n' \
    "$version" "$version" "$maintainer" "$(date -u -d "@$SOURCE_DATE_EPOCH" -R)" | gzip -9n >"$stage/usr/share/doc/cw-agent/changelog.gz"
  lintian_overrides "$arch" >"$stage/usr/share/lintian/overrides/cw-agent"

  for script in postinst prerm postrm; do cp "$root/packaging/debian/$script" "$stage/DEBIAN/$script"; done
  echo /etc/cw-agent/cw-agent.env >"$stage/DEBIAN/conffiles"

  depends="$(elf_depends "$stage" "$triplet")"
  # useradd and groupadd. deb-systemd-helper comes with init-system-helpers, which is essential.
  depends+=", passwd"
  [[ "$arch" == armhf ]] && depends+=", nodejs (>= 20.19), nodejs (<< 21)"
  sed -e "s/@VERSION@/$version/" -e "s|@MAINTAINER@|$maintainer|" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
    -e "s/@INSTALLED_SIZE@/$(installed_size "$stage")/" \
    "$root/packaging/debian/control" >"$stage/DEBIAN/control"

  # Fixed modes, owners and times: the package depends only on the inputs.
  find "$stage" -type d -exec chmod 0755 {} +
  find "$stage" -type f -exec chmod 0644 {} +
  chmod 0755 "$stage/usr/bin/cw-agent" "$stage"/DEBIAN/{postinst,prerm,postrm}
  [[ -f "$lib/node/bin/node" ]] && chmod 0755 "$lib/node/bin/node"
  chmod 0750 "$stage/etc/cw-agent"
  chmod 0640 "$stage/etc/cw-agent/cw-agent.env"
  find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

  deb="$out/cw-agent_${version}_$arch.deb"
  dpkg-deb --root-owner-group -Zxz -z6 --threads-max=2 --build "$stage" "$deb" >/dev/null
  log "$arch: $deb ($(du -k "$deb" | cut -f1) KiB, $((SECONDS - started)) s)"
}

started=$SECONDS
mkdir -p "$builds/bundle"
bundle_agent "$builds/bundle/cli.js"
for arch in "${arches[@]}"; do build_one "$arch"; done
log "done in $((SECONDS - started)) s"
