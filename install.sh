#!/usr/bin/env bash
# Installs cw-agent as a systemd service on a Raspberry Pi or any Debian/Ubuntu gateway.
# Run from a source tree with a built dist/ (npm ci && npm run build) or from a release archive.
# See docs/operations.md, or ./install.sh --help.
set -euo pipefail
umask 022

readonly SUPPORTED_ARCHS="aarch64 armv7l armv6l x86_64"
readonly NODE_MIN_MAJOR=20
readonly USER_NAME=cw-agent
readonly HARDWARE_GROUPS="gpio i2c"

usage() {
  cat <<'EOF'
Usage: install.sh [OPTIONS]

Installs cw-agent under /opt/cw-agent with production dependencies (no source maps), creates the
system user cw-agent (groups gpio, i2c), writes /etc/cw-agent/cw-agent.env from a commented
template if it does not exist, installs cw-agent.service and cw-agent@.service into
/etc/systemd/system, the cw-agent command into /usr/local/bin and, where this source tree has them,
the man page cw-agent(8) and the bash completion, and enables the service. On a Raspberry Pi with a
display configured in the environment file it enables I2C. Prints one line per step and a summary:
the version, what changed, and the next commands. Running it again changes nothing unless the
agent itself changed; a run that fails undoes its changes and leaves the system as it found it.

Options:
  --instance NAME  Use the template unit cw-agent@NAME.service: settings in
                   /etc/cw-agent/cw-agent@NAME.env, state in /var/lib/cw-agent@NAME. With
                   --uninstall: remove only that instance. Instances of an older layout
                   (/etc/cw-agent/NAME.env, /var/lib/cw-agent/NAME) are moved on every install.
  --root DIR       Install into the staging root DIR instead of / (DESTDIR in the environment does
                   the same), e.g. for an image. Nothing outside DIR is touched: users and groups
                   are added to DIR/etc/passwd and DIR/etc/group, the service is enabled offline
                   (systemctl --root=DIR enable); apt-get and npm are not run. Every path printed
                   starts with DIR.
  --skip-npm       Do not run `npm ci` in /opt/cw-agent (node_modules is provided otherwise).
  --uninstall      Stop, disable and remove the agent. Keeps /etc/cw-agent and /var/lib/cw-agent
                   (the credentials).
  --purge          --uninstall, and also remove the settings, the state (credentials) and the
                   cw-agent user and group. Lists the credentials it deletes and asks first; without
                   a terminal to ask on it needs --yes.
  --yes            Do not ask: confirms --purge.
  -h, --help       Show this help.

Exit codes: 0 success, 1 failure (a failed installation is undone; --purge refused or declined),
64 bad usage.
EOF
}

log() { printf 'cw-agent install: %s\n' "$*"; }
# join_list SEPARATOR WORD...: the words with SEPARATOR between them.
join_list() {
  local separator="$1" out=""
  shift
  while (($#)); do
    out+="${out:+$separator}$1"
    shift
  done
  printf '%s' "$out"
}
# One line per step of the installation.
step() { log "$@"; }
warn() { printf 'cw-agent install: warning: %s\n' "$*" >&2; }
DIED=no
die() {
  printf 'cw-agent install: error: %s\n' "$*" >&2
  DIED=yes
  exit 1
}
bad_usage() {
  printf 'cw-agent install: %s\n\n' "$*" >&2
  usage >&2
  exit 64
}

# --- arguments ---------------------------------------------------------------------------------

ROOT="${DESTDIR:-}"
INSTANCE=""
ACTION=install
PURGE=no
ASSUME_YES=no
SKIP_NPM=no

while (($#)); do
  case "$1" in
    --instance)
      (($# >= 2)) || bad_usage "--instance needs a NAME"
      INSTANCE="$2"
      shift 2
      ;;
    --instance=*) INSTANCE="${1#*=}"; shift ;;
    --root)
      (($# >= 2)) || bad_usage "--root needs a DIR"
      ROOT="$2"
      shift 2
      ;;
    --root=*) ROOT="${1#*=}"; shift ;;
    --skip-npm) SKIP_NPM=yes; shift ;;
    --uninstall) ACTION=uninstall; shift ;;
    --purge) ACTION=uninstall; PURGE=yes; shift ;;
    -y | --yes) ASSUME_YES=yes; shift ;;
    -h | --help) usage; exit 0 ;;
    *) bad_usage "unknown argument: $1" ;;
  esac
done

if [[ -n "$INSTANCE" && ! "$INSTANCE" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{2,63}$ ]]; then
  bad_usage "--instance: '$INSTANCE' is not a valid name: an instance name is an agent name, 3-64 characters of letters, digits, '.', '_' or '-', starting with a letter or digit"
fi

STAGING=no
ROOT_CREATED=no
if [[ -n "$ROOT" ]]; then
  [[ -e "$ROOT" ]] || ROOT_CREATED=yes
  mkdir -p -- "$ROOT"
  ROOT="$(cd -- "$ROOT" && pwd -P)"
  if [[ "$ROOT" == / ]]; then ROOT=""; else STAGING=yes; fi
fi

if [[ "$STAGING" == no && "$(id -u)" != 0 ]]; then
  die "run as root (sudo $0 ...), or use --root DIR to install into a staging root"
fi

SRC="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
readonly OPT="$ROOT/opt/cw-agent"
readonly ETC="$ROOT/etc/cw-agent"
readonly UNIT_DIR="$ROOT/etc/systemd/system"
readonly STATE="$ROOT/var/lib/cw-agent"
# Every path of an instance carries the "@" the default agent's paths never have: no instance name
# can reach the default agent's files or directories.
if [[ -n "$INSTANCE" ]]; then
  UNIT="cw-agent@$INSTANCE.service"
  ENV_FILE="$ETC/cw-agent@$INSTANCE.env"
  INSTANCE_STATE="$ROOT/var/lib/cw-agent@$INSTANCE"
else
  UNIT="cw-agent.service"
  ENV_FILE="$ETC/cw-agent.env"
  INSTANCE_STATE=""
fi
readonly UNIT ENV_FILE INSTANCE_STATE

CHANGED=no
UNITS_CHANGED=no
TMP_FILES=()

# --- undo on failure ---------------------------------------------------------------------------

# Every change an installation makes is journaled. When a step fails, the changes are undone in
# reverse order, so a failed run leaves the system (or the staging root) as it found it: files it
# replaced or removed wait as NAME.cw-agent-old until the run has succeeded.
# Entries: "new PATH" (created), "saved PATH" (original at PATH.cw-agent-old), "mode PATH MODE",
# "moved FROM TO", "enabled UNIT", "group NAME", "user NAME", "member GROUP".
JOURNAL=()
declare -A JOURNALED=()
CURRENT_STEP=""
STARTED_AGAIN=()

journal() { JOURNAL+=("$1"$'\t'"$2"$'\t'"${3:-}"); }

# Before PATH is created, replaced or edited: remembers how it was, once per run.
remember() {
  local path="$1" how="${2:-}"
  [[ -z "${JOURNALED[$path]:-}" ]] || return 0
  JOURNALED[$path]=1
  if [[ ! -e "$path" && ! -L "$path" ]]; then
    journal new "$path"
    return 0
  fi
  rm -rf -- "$path.cw-agent-old"
  if [[ "$how" == move ]]; then mv -- "$path" "$path.cw-agent-old"; else cp -a -- "$path" "$path.cw-agent-old"; fi
  journal saved "$path"
}

# remove_aside PATH: removes PATH for the rest of the run, restorable until it succeeded.
remove_aside() {
  if [[ -n "${JOURNALED[$1]:-}" ]]; then rm -rf -- "$1"; else remember "$1" move; fi
}

rollback() {
  local i kind path extra unit
  for ((i = ${#JOURNAL[@]} - 1; i >= 0; i--)); do
    IFS=$'\t' read -r kind path extra <<<"${JOURNAL[i]}"
    [[ -n "$path" && "$path" != / ]] || continue
    case "$kind" in
      new) rm -rf -- "$path" ;;
      saved) rm -rf -- "$path" && mv -- "$path.cw-agent-old" "$path" ;;
      mode) chmod "$extra" -- "$path" ;;
      moved) mv -- "$extra" "$path" ;;
      enabled) systemctl disable --quiet "$path" ;;
      group) groupdel "$path" ;;
      user) userdel "$path" ;;
      member) gpasswd -d "$USER_NAME" "$path" >/dev/null ;;
    esac
  done
  JOURNAL=()
  if systemd_running; then
    [[ "$UNITS_CHANGED" == no ]] || systemctl daemon-reload
    for unit in "${STARTED_AGAIN[@]}"; do systemctl start "$unit"; done
  fi
}

# The run succeeded: the originals kept for an undo go.
commit() {
  local entry kind path
  for entry in "${JOURNAL[@]}"; do
    IFS=$'\t' read -r kind path _ <<<"$entry"
    [[ "$kind" != saved ]] || rm -rf -- "$path.cw-agent-old"
  done
  JOURNAL=()
}

on_exit() {
  local status=$? file
  set +e
  for file in "${TMP_FILES[@]}"; do rm -f -- "$file"; done
  if ((status != 0)); then
    if [[ "$DIED" == no && -n "$CURRENT_STEP" ]]; then
      printf 'cw-agent install: error: the step "%s" failed (exit code %s)\n' "$CURRENT_STEP" "$status" >&2
    fi
    if ((${#JOURNAL[@]} > 0)); then
      rollback 2>/dev/null
      printf 'cw-agent install: undid the changes of this run: %s is as it was before\n' "${ROOT:-the system}" >&2
    fi
    [[ "$ROOT_CREATED" == no ]] || rmdir -- "$ROOT" 2>/dev/null
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_step NAME COMMAND...: a failure names the step.
run_step() {
  CURRENT_STEP="$1"
  shift
  "$@"
}

# --- file helpers: write only what differs, so a second run changes nothing -------------------

file_mode() { stat -c '%a' -- "$1"; }

# make_dir DIR: DIR and its missing parents, 0755 (umask 022).
make_dir() {
  local dir="$1"
  if [[ -e "$dir" || -L "$dir" ]]; then
    [[ -d "$dir" ]] || die "$dir exists and is not a directory"
    return 0
  fi
  make_dir "$(dirname -- "$dir")"
  remember "$dir"
  mkdir -- "$dir"
  CHANGED=yes
}

ensure_dir() {
  local dir="$1" mode="$2"
  make_dir "$dir"
  local old
  old="$(file_mode "$dir")"
  if [[ "$old" != "${mode#0}" ]]; then
    journal mode "$dir" "$old"
    chmod "$mode" -- "$dir"
    CHANGED=yes
  fi
}

# place_file NEW DEST MODE: moves NEW over DEST unless DEST already has that content and mode.
# Sets LAST_CHANGED to yes or no. (Not through return codes: the callers run under errexit, which a
# function called as a condition would lose.)
LAST_CHANGED=no
place_file() {
  local new="$1" dest="$2" mode="$3"
  [[ ! -d "$dest" || -L "$dest" ]] || die "$dest is a directory; remove it or move it away"
  if [[ -f "$dest" && ! -L "$dest" ]] && cmp -s -- "$new" "$dest" && [[ "$(file_mode "$dest")" == "${mode#0}" ]]; then
    rm -f -- "$new"
    LAST_CHANGED=no
    return 0
  fi
  chmod "$mode" -- "$new"
  remember "$dest" move
  mv -f -- "$new" "$dest"
  CHANGED=yes
  LAST_CHANGED=yes
}

# install_output DEST MODE COMMAND...: DEST gets what COMMAND prints.
install_output() {
  local dest="$1" mode="$2" new
  shift 2
  make_dir "$(dirname -- "$dest")"
  new="$dest.cw-agent-new"
  TMP_FILES+=("$new")
  "$@" >"$new"
  place_file "$new" "$dest" "$mode"
}

install_file() { install_output "$2" "$3" cat -- "$1"; }

# Source maps are for debugging a build; the gateway runs the JavaScript alone.
not_installed() { [[ "$1" == *.map ]]; }

# sync_tree SRC_DIR DEST_DIR: files 0644, directories 0755; what SRC_DIR does not have (or has as
# another type) is removed first. Counts into TREE_INSTALLED and TREE_REMOVED.
TREE_INSTALLED=0
TREE_REMOVED=0
sync_tree() {
  local from="$1" to="$2" path rel paths=()
  ensure_dir "$to" 0755
  mapfile -d '' paths < <(find "$to" -mindepth 1 -print0 | sort -z)
  for path in "${paths[@]}"; do
    [[ -e "$path" || -L "$path" ]] || continue # inside a directory removed just before
    rel="${path#"$to"/}"
    if not_installed "$rel" || [[ ! -e "$from/$rel" ]] || { [[ -d "$from/$rel" ]] && [[ ! -d "$path" || -L "$path" ]]; } ||
      { [[ ! -d "$from/$rel" ]] && [[ -d "$path" && ! -L "$path" ]]; }; then
      if [[ -d "$path" && ! -L "$path" ]]; then
        TREE_REMOVED=$((TREE_REMOVED + $(find "$path" -type f | wc -l)))
      else
        TREE_REMOVED=$((TREE_REMOVED + 1))
      fi
      remove_aside "$path"
      CHANGED=yes
    fi
  done
  mapfile -d '' paths < <(find "$from" -mindepth 1 -print0 | sort -z)
  for path in "${paths[@]}"; do
    rel="${path#"$from"/}"
    not_installed "$rel" && continue
    if [[ -d "$path" ]]; then
      ensure_dir "$to/$rel" 0755
    else
      install_file "$path" "$to/$rel" 0644
      [[ "$LAST_CHANGED" == no ]] || TREE_INSTALLED=$((TREE_INSTALLED + 1))
    fi
  done
}

# The "version" of a package.json; empty when the file is missing.
package_version() {
  [[ -f "$1" ]] || return 0
  "$NODE_BIN" -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version ?? ""))' "$1"
}

# --- checks ------------------------------------------------------------------------------------

check_architecture() {
  local arch
  arch="$(uname -m)"
  case " $SUPPORTED_ARCHS " in
    *" $arch "*) ;;
    *) die "unsupported architecture '$arch'; cw-agent supports: $SUPPORTED_ARCHS" ;;
  esac
}

NODE_BIN=""
check_node() {
  local version="none" major=0
  NODE_BIN="$(command -v node || true)"
  if [[ -n "$NODE_BIN" ]]; then
    version="$("$NODE_BIN" --version 2>/dev/null || echo unknown)"
    major="${version#v}"
    major="${major%%.*}"
    [[ "$major" =~ ^[0-9]+$ ]] || major=0
  fi
  if ((major < NODE_MIN_MAJOR)); then
    cat >&2 <<EOF
cw-agent install: error: Node.js $NODE_MIN_MAJOR or newer is required (found: $version).
  Raspberry Pi OS / Debian / Ubuntu on arm64, armhf or x86_64: install the "nodejs" package from
  NodeSource, see https://github.com/nodesource/distributions (Node.js $NODE_MIN_MAJOR.x or newer;
  the nodejs of Debian 12 / Raspberry Pi OS Bookworm is 18 and too old).
  armv6l (Raspberry Pi Zero, Zero W, 1): official builds stop at armv7; use an armv6l tarball from
  https://unofficial-builds.nodejs.org/download/release/ and unpack it under /usr/local.
  Node.js must be installed system-wide: the service cannot see /home or /root (nvm installs).
Then run this script again.
EOF
    exit 1
  fi
  case "$NODE_BIN" in
    /home/* | /root/*)
      if [[ "$STAGING" == yes ]]; then
        warn "node is $NODE_BIN: the service cannot run it (ProtectHome=yes); the target needs node outside /home and /root"
      else
        die "node is $NODE_BIN, which the service cannot run (ProtectHome=yes hides /home and /root); install Node.js system-wide"
      fi
      ;;
  esac
}

check_source() {
  local file
  for file in dist/src/cli.js bin/cw-agent package.json package-lock.json \
    systemd/cw-agent.service systemd/cw-agent@.service systemd/cw-agent.env systemd/cw-agent@.env; do
    [[ -f "$SRC/$file" ]] || die "$SRC/$file is missing; in a source checkout run 'npm ci && npm run build' first"
  done
}

is_raspberry_pi() {
  local model text
  for model in "$ROOT/proc/device-tree/model" "$ROOT/sys/firmware/devicetree/base/model"; do
    [[ -r "$model" ]] || continue
    text="$(tr -d '\0' <"$model")"
    [[ "$text" == *"Raspberry Pi"* ]] && return 0
  done
  return 1
}

# --- build dependencies and npm ----------------------------------------------------------------

# better-sqlite3 downloads a prebuilt binary for x86_64, aarch64 and armv7l; there is none for
# armv6l. i2c-bus and epoll (onoff), the optional GPIO/I2C modules, always compile from source, so
# a Raspberry Pi needs the compiler too. Elsewhere npm skips them when they fail to build.
needs_toolchain() {
  local tool missing=no
  for tool in python3 make g++; do command -v "$tool" >/dev/null || missing=yes; done
  [[ "$missing" == yes ]] || return 1
  [[ "$(uname -m)" == armv6l ]] && return 0
  is_raspberry_pi && return 0
  [[ -e "$ROOT/dev/gpiochip0" ]] && return 0
  return 1
}

install_build_dependencies() {
  needs_toolchain || return 0
  if [[ "$STAGING" == yes ]]; then
    step "build tools: planned: apt-get install python3 make g++ (native modules have no prebuilt binary here)"
    return 0
  fi
  command -v apt-get >/dev/null || die "python3, make and g++ are needed to build native modules; install them"
  step "build tools: installing python3 make g++ (native modules have no prebuilt binary for this machine)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++
}

install_node_modules() {
  local stamp
  if [[ "$SKIP_NPM" == yes ]]; then
    step "dependencies: not installed (--skip-npm)"
    return 0
  fi
  if [[ "$STAGING" == yes ]]; then
    step "dependencies: planned: npm ci --omit=dev in $OPT (not run in a staging root; see --skip-npm)"
    return 0
  fi
  command -v npm >/dev/null || die "npm not found: install it with Node.js (NodeSource's nodejs includes it)"
  # Native modules are built for one Node.js ABI and architecture: reinstall when either changes.
  stamp="node=$("$NODE_BIN" --version) arch=$(uname -m) lock=$(sha256sum <"$OPT/package-lock.json" | cut -d' ' -f1)"
  if [[ -d "$OPT/node_modules" && -f "$OPT/.install-stamp" && "$(cat "$OPT/.install-stamp")" == "$stamp" ]]; then
    step "dependencies: $OPT/node_modules is up to date"
    return 0
  fi
  install_build_dependencies
  step "dependencies: running npm ci --omit=dev in $OPT"
  # npm ci deletes node_modules first: keep the old one until the run has succeeded.
  remember "$OPT/node_modules" move
  (cd -- "$OPT" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
  install_output "$OPT/.install-stamp" 0644 printf '%s\n' "$stamp"
  CHANGED=yes
}

# --- users and groups --------------------------------------------------------------------------

# Staging root: plain entries in DIR/etc/group and DIR/etc/passwd, ids from the system range
# counting down from 999 like useradd --system (no shadow entries: the account has no password).
staged_free_id() {
  local file="$1" id used
  used=" $(cut -d: -f3 "$file" | tr '\n' ' ') "
  for ((id = 999; id >= 100; id--)); do
    [[ "$used" == *" $id "* ]] || { echo "$id"; return 0; }
  done
  die "no free system id in $file"
}

ACCOUNT_CREATED=no
ACCOUNT_NOTES=()

staged_ensure_group() {
  local group="$1" file="$ROOT/etc/group" id
  grep -q "^$group:" "$file" && return 0
  id="$(staged_free_id "$file")"
  remember "$file" copy
  printf '%s:x:%s:\n' "$group" "$id" >>"$file"
  CHANGED=yes
  ACCOUNT_NOTES+=("$group")
}

staged_add_member() {
  local group="$1" user="$2" file="$ROOT/etc/group" members
  members="$(grep "^$group:" "$file" | cut -d: -f4)"
  [[ ",$members," == *",$user,"* ]] && return 0
  awk -F: -v OFS=: -v g="$group" -v u="$user" '$1 == g { $4 = ($4 == "" ? u : $4 "," u) } { print }' \
    "$file" >"$file.cw-agent-new"
  remember "$file" copy
  cat "$file.cw-agent-new" >"$file"
  rm -f -- "$file.cw-agent-new"
  CHANGED=yes
}

staged_group_id() { grep "^$1:" "$ROOT/etc/group" | cut -d: -f3; }

ensure_users() {
  local group uid gid file
  if [[ "$STAGING" == yes ]]; then
    make_dir "$ROOT/etc"
    for file in "$ROOT/etc/group" "$ROOT/etc/passwd"; do
      [[ -f "$file" ]] || install_output "$file" 0644 true
    done
    for group in $USER_NAME $HARDWARE_GROUPS; do staged_ensure_group "$group"; done
    if ! grep -q "^$USER_NAME:" "$ROOT/etc/passwd"; then
      uid="$(staged_free_id "$ROOT/etc/passwd")"
      gid="$(staged_group_id $USER_NAME)"
      remember "$ROOT/etc/passwd" copy
      printf '%s:x:%s:%s:Cybus Connectware edge agent:/var/lib/cw-agent:/usr/sbin/nologin\n' \
        "$USER_NAME" "$uid" "$gid" >>"$ROOT/etc/passwd"
      CHANGED=yes
      ACCOUNT_CREATED=yes
    fi
    for group in $HARDWARE_GROUPS; do staged_add_member "$group" "$USER_NAME"; done
  else
    for group in $USER_NAME $HARDWARE_GROUPS; do
      if ! getent group "$group" >/dev/null; then
        groupadd --system "$group"
        journal group "$group"
        CHANGED=yes
        ACCOUNT_NOTES+=("$group")
      fi
    done
    if ! getent passwd "$USER_NAME" >/dev/null; then
      useradd --system --gid "$USER_NAME" --groups "${HARDWARE_GROUPS// /,}" --home-dir /var/lib/cw-agent \
        --no-create-home --shell /usr/sbin/nologin --comment "Cybus Connectware edge agent" "$USER_NAME"
      journal user "$USER_NAME"
      CHANGED=yes
      ACCOUNT_CREATED=yes
    fi
    local member_of
    member_of=" $(id -nG "$USER_NAME") "
    for group in $HARDWARE_GROUPS; do
      if [[ "$member_of" != *" $group "* ]]; then
        usermod -a -G "$group" "$USER_NAME"
        journal member "$group"
        CHANGED=yes
      fi
    done
  fi
  local line where=""
  [[ "$STAGING" == no ]] || where=" (in $ROOT/etc/passwd and $ROOT/etc/group)"
  if [[ "$ACCOUNT_CREATED" == yes ]]; then
    line="created the system user $USER_NAME, member of ${HARDWARE_GROUPS// /, }"
  else
    line="the system user $USER_NAME exists"
  fi
  ((${#ACCOUNT_NOTES[@]} == 0)) || line+="; created the groups $(join_list ", " "${ACCOUNT_NOTES[@]}")"
  step "account: $line$where"
}

# chown that works in a staging root, where the names exist only in DIR/etc/group.
chown_to_agent_group() {
  local path="$1"
  if [[ "$STAGING" == no ]]; then
    chown "root:$USER_NAME" -- "$path"
  elif [[ "$(id -u)" == 0 ]]; then
    chown "0:$(staged_group_id $USER_NAME)" -- "$path"
  fi
}

# --- the agent ---------------------------------------------------------------------------------

OLD_VERSION=""
NEW_VERSION=""
AGENT_CHANGE=""

install_agent() {
  OLD_VERSION="$(package_version "$OPT/package.json")"
  NEW_VERSION="$(package_version "$SRC/package.json")"
  [[ -n "$NEW_VERSION" ]] || die "$SRC/package.json has no version"
  local fresh=no
  [[ -e "$OPT" ]] || fresh=yes
  ensure_dir "$OPT" 0755
  sync_tree "$SRC/dist/src" "$OPT/dist/src"
  local file
  for file in package.json package-lock.json; do
    install_file "$SRC/$file" "$OPT/$file" 0644
    [[ "$LAST_CHANGED" == no ]] || TREE_INSTALLED=$((TREE_INSTALLED + 1))
  done
  local counts="$TREE_INSTALLED files changed"
  ((TREE_REMOVED == 0)) || counts+=", $TREE_REMOVED removed"
  if [[ "$fresh" == yes || -z "$OLD_VERSION" ]]; then
    AGENT_CHANGE="fresh install"
    step "agent: installed $NEW_VERSION in $OPT ($TREE_INSTALLED files)"
  elif [[ "$OLD_VERSION" != "$NEW_VERSION" ]]; then
    if [[ "$(printf '%s\n' "$OLD_VERSION" "$NEW_VERSION" | sort -V | head -n1)" == "$OLD_VERSION" ]]; then
      AGENT_CHANGE="upgrade from $OLD_VERSION"
    else
      AGENT_CHANGE="downgrade from $OLD_VERSION"
    fi
    step "agent: $AGENT_CHANGE to $NEW_VERSION in $OPT ($counts)"
  elif ((TREE_INSTALLED + TREE_REMOVED > 0)); then
    AGENT_CHANGE="same version, $counts"
    step "agent: updated $NEW_VERSION in $OPT ($counts)"
  else
    AGENT_CHANGE="unchanged"
    step "agent: $NEW_VERSION in $OPT is up to date"
  fi
}

# --- configuration, units, I2C -----------------------------------------------------------------

ENV_CREATED=no

install_env_file() {
  local fresh=no
  [[ -d "$ETC" ]] || fresh=yes
  ensure_dir "$ETC" 0750
  [[ "$fresh" == no ]] || chown_to_agent_group "$ETC"
  if [[ -e "$ENV_FILE" ]]; then
    step "settings: kept $ENV_FILE (never overwritten)"
    return 0
  fi
  if [[ -n "$INSTANCE" ]]; then
    # The instance's own template: %i is its name, the agent name is left to the unit.
    install_output "$ENV_FILE" 0640 sed "s/%i/$INSTANCE/g" "$SRC/systemd/cw-agent@.env"
  else
    install_file "$SRC/systemd/cw-agent.env" "$ENV_FILE" 0640
  fi
  chown_to_agent_group "$ENV_FILE"
  ENV_CREATED=yes
  step "settings: created $ENV_FILE from the template (root:$USER_NAME, 0640)"
}

install_units() {
  local unit changed=()
  for unit in cw-agent.service cw-agent@.service; do
    # The units name /usr/bin/node; point them at the node this script found.
    install_output "$UNIT_DIR/$unit" 0644 sed "s#^ExecStart=/usr/bin/node #ExecStart=$NODE_BIN #" "$SRC/systemd/$unit"
    [[ "$LAST_CHANGED" == no ]] || changed+=("$unit")
  done
  if ((${#changed[@]} == 0)); then
    step "units: cw-agent.service and cw-agent@.service in $UNIT_DIR are up to date"
  else
    UNITS_CHANGED=yes
    step "units: wrote $(join_list ", " "${changed[@]}") to $UNIT_DIR"
  fi
}

# The launcher of the source tree with this installation's node and cli.js (it keeps Node.js from
# acting on --env-file itself).
cli_wrapper() {
  sed -e "s#^node=.*#node=$NODE_BIN#" -e "s#^cli=.*#cli=/opt/cw-agent/dist/src/cli.js#" "$SRC/bin/cw-agent"
}

# The `cw-agent` command for technicians (status, check, reset, identify, pairing-id).
install_cli() {
  install_output "$ROOT/usr/local/bin/cw-agent" 0755 cli_wrapper
  if [[ "$LAST_CHANGED" == yes ]]; then
    step "command: wrote $ROOT/usr/local/bin/cw-agent"
  else
    step "command: $ROOT/usr/local/bin/cw-agent is up to date"
  fi
}

readonly MAN_PAGE=/usr/share/man/man8/cw-agent.8.gz
readonly COMPLETION=/usr/share/bash-completion/completions/cw-agent

# The man page and the bash completion, where this source tree has them.
install_extras() {
  if [[ -f "$SRC/docs/man/cw-agent.8" ]]; then
    install_output "$ROOT$MAN_PAGE" 0644 gzip -9nc -- "$SRC/docs/man/cw-agent.8"
    if [[ "$LAST_CHANGED" == yes ]]; then step "man page: wrote $ROOT$MAN_PAGE"; else step "man page: $ROOT$MAN_PAGE is up to date"; fi
  fi
  if [[ -f "$SRC/packaging/bash-completion/cw-agent" ]]; then
    install_file "$SRC/packaging/bash-completion/cw-agent" "$ROOT$COMPLETION" 0644
    if [[ "$LAST_CHANGED" == yes ]]; then step "bash completion: wrote $ROOT$COMPLETION"; else step "bash completion: $ROOT$COMPLETION is up to date"; fi
  fi
}

# Before the "@" layout, instances kept /etc/cw-agent/NAME.env and /var/lib/cw-agent/NAME (inside
# the default agent's state directory). Moves each to its new name, credentials included so the
# instance does not pair again, with the unit stopped for the move and started again once the
# installation has succeeded (or has been undone).
migrate_instance_layout() {
  local dir name unit was_active
  for dir in "$STATE"/*/; do
    [[ -d "$dir" ]] || continue
    name="$(basename -- "$dir")"
    [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || continue
    [[ -e "$ROOT/var/lib/cw-agent@$name" ]] && continue
    unit="cw-agent@$name.service"
    was_active=no
    if systemd_running && systemctl is-active --quiet "$unit"; then
      was_active=yes
      systemctl stop "$unit"
    fi
    journal moved "${dir%/}" "$ROOT/var/lib/cw-agent@$name"
    mv -- "${dir%/}" "$ROOT/var/lib/cw-agent@$name"
    if [[ -f "$ETC/$name.env" && ! -e "$ETC/cw-agent@$name.env" ]]; then
      if [[ "$name" == cw-agent ]]; then
        # That old instance shared the default agent's file: copy it, the default agent keeps it.
        remember "$ETC/cw-agent@$name.env"
        cp -p -- "$ETC/$name.env" "$ETC/cw-agent@$name.env"
      else
        journal moved "$ETC/$name.env" "$ETC/cw-agent@$name.env"
        mv -- "$ETC/$name.env" "$ETC/cw-agent@$name.env"
      fi
    fi
    CHANGED=yes
    step "instances: moved instance $name to the new layout: $ROOT/var/lib/cw-agent@$name, $ETC/cw-agent@$name.env"
    [[ "$was_active" == no ]] || STARTED_AGAIN+=("$unit")
  done
}

display_configured() {
  [[ -f "$ENV_FILE" ]] &&
    grep -Eiq '^[[:space:]]*CW_AGENT_DISPLAY_MODEL=["'\'']?(auto|ssd1306|sh1106|hd44780)(["'\'']|[[:space:]]|$)' "$ENV_FILE"
}

# True when the last i2c / i2c_arm setting outside conditional sections (before the first section
# filter, or under [all]) switches I2C on: only such a line applies to every Raspberry Pi model.
i2c_enabled_for_all_models() {
  awk '
    BEGIN { global = 1; state = "" }
    /^[[:space:]]*\[/ { global = ($0 ~ /^[[:space:]]*\[all\][[:space:]]*$/); next }
    global && /^[[:space:]]*dtparam=/ {
      line = $0; sub(/#.*/, "", line)
      n = split(substr(line, index(line, "=") + 1), params, ",")
      for (i = 1; i <= n; i++) {
        gsub(/[[:space:]]/, "", params[i])
        if (params[i] ~ /^i2c(_arm)?(=on)?$/) state = "on"
        else if (params[i] ~ /^i2c(_arm)?=off$/) state = "off"
      }
    }
    END { exit (state == "on" ? 0 : 1) }
  ' "$1"
}

# Raspberry Pi OS Bookworm reads /boot/firmware/config.txt; /boot/config.txt is only a pointer
# there. Older releases read /boot/config.txt. I2C also needs the i2c-dev module for /dev/i2c-N.
enable_i2c() {
  local config
  local notes=()
  if ! is_raspberry_pi || ! display_configured; then return 0; fi
  if [[ -f "$ROOT/boot/firmware/config.txt" ]]; then
    config="$ROOT/boot/firmware/config.txt"
  elif [[ -f "$ROOT/boot/config.txt" ]]; then
    config="$ROOT/boot/config.txt"
  else
    warn "a display is configured but no config.txt was found: enable I2C with raspi-config"
    return 0
  fi
  if ! i2c_enabled_for_all_models "$config"; then
    remember "$config.cw-agent-backup" move
    cp -p -- "$config" "$config.cw-agent-backup"
    # Uncomment (or switch on) the first i2c_arm line that applies to every model; without one,
    # append a block under [all]. Lines inside conditional sections ([cm4], [pi0], ...) are left as
    # they are: switching one of those on (as earlier versions did) enabled I2C on that model only.
    awk '
      /^[[:space:]]*\[/ { global = ($0 ~ /^[[:space:]]*\[all\][[:space:]]*$/) }
      BEGIN { global = 1 }
      global && !done && /^[[:space:]]*#?[[:space:]]*dtparam=i2c_arm=(on|off)[[:space:]]*$/ {
        print "dtparam=i2c_arm=on"; done = 1; next
      }
      { print }
      END { if (!done) printf "\n[all]\n# Added by cw-agent install.sh for the display\ndtparam=i2c_arm=on\n" }
    ' "$config" >"$config.cw-agent-new"
    remember "$config" copy
    cat "$config.cw-agent-new" >"$config"
    rm -f -- "$config.cw-agent-new"
    CHANGED=yes
    notes+=("enabled I2C in $config (backup: $config.cw-agent-backup); reboot to apply")
  else
    notes+=("I2C is enabled in $config")
  fi
  if ! grep -Eqs '^[[:space:]]*i2c[-_]dev' "$ROOT/etc/modules" "$ROOT"/etc/modules-load.d/*.conf; then
    install_output "$ROOT/etc/modules-load.d/cw-agent-i2c.conf" 0644 echo i2c-dev
    notes+=("i2c-dev loads at boot ($ROOT/etc/modules-load.d/cw-agent-i2c.conf)")
    [[ "$STAGING" == yes ]] || modprobe i2c-dev || true
  fi
  step "display: $(join_list "; " "${notes[@]}")"
}

systemd_running() { [[ "$STAGING" == no && -d /run/systemd/system ]]; }

ENABLED_NOW=no

# Both units are WantedBy=multi-user.target: enabling one is this link.
wants_link() { printf '%s/multi-user.target.wants/%s' "$UNIT_DIR" "$1"; }

# A staging root is enabled offline, as an image build needs it: the links systemctl --root makes
# (or, without systemctl, the same link made here).
enable_offline() {
  local link
  link="$(wants_link "$UNIT")"
  if [[ -L "$link" ]]; then
    step "service: $UNIT is enabled in $ROOT"
    return 0
  fi
  make_dir "$(dirname -- "$link")"
  remember "$link"
  if command -v systemctl >/dev/null; then
    systemctl --root="$ROOT" enable --quiet "$UNIT"
  else
    ln -s -- "/etc/systemd/system/$([[ -n "$INSTANCE" ]] && echo cw-agent@.service || echo "$UNIT")" "$link"
  fi
  [[ -L "$link" ]] || die "enabling $UNIT in $ROOT did not create $link"
  CHANGED=yes
  ENABLED_NOW=yes
  step "service: enabled $UNIT offline (systemctl --root=$ROOT enable $UNIT): it starts at every boot"
}

enable_unit() {
  if [[ "$STAGING" == yes ]]; then
    enable_offline
    return 0
  fi
  if [[ "$UNITS_CHANGED" == yes ]] && systemd_running; then systemctl daemon-reload; fi
  if systemctl is-enabled --quiet "$UNIT" 2>/dev/null; then
    step "service: $UNIT is enabled"
  else
    journal enabled "$UNIT"
    systemctl enable --quiet "$UNIT"
    CHANGED=yes
    ENABLED_NOW=yes
    step "service: enabled $UNIT (starts at boot)"
  fi
}

# Instances stopped to move them to the new layout run again.
start_again() {
  local unit
  ((${#STARTED_AGAIN[@]} > 0)) || return 0
  systemctl daemon-reload
  for unit in "${STARTED_AGAIN[@]}"; do systemctl start "$unit" || warn "$unit did not start again"; done
  STARTED_AGAIN=()
}

SERVICE_ACTIVE=no

# New code or units only take effect after a restart; a stopped agent stays stopped.
restart_if_running() {
  systemd_running && systemctl is-active --quiet "$UNIT" || return 0
  SERVICE_ACTIVE=yes
  [[ "$CHANGED" == yes ]] || return 0
  if systemctl restart "$UNIT"; then
    step "service: restarted $UNIT with the new installation"
  else
    warn "$UNIT did not restart; see: systemctl status $UNIT; journalctl -u $UNIT -b"
    return 1
  fi
}

# The closing summary: version, what changed, and what to do next.
summary() {
  local service="${UNIT%.service}" check="sudo cw-agent check" start units settings edit
  [[ -z "$INSTANCE" ]] || check+=" --instance $INSTANCE"
  if [[ -n "$INSTANCE" ]]; then edit="set CYBUS_MQTT_HOST (the agent name defaults to $INSTANCE)"; else edit="set CYBUS_AGENT_NAME and CYBUS_MQTT_HOST"; fi
  if [[ "$SERVICE_ACTIVE" == yes ]]; then
    start="sudo systemctl restart $service"
  else
    start="sudo systemctl start $service"
  fi
  if [[ "$UNITS_CHANGED" == yes ]]; then units="changed"; else units="unchanged"; fi
  if [[ "$ENABLED_NOW" == yes ]]; then units+=", $UNIT enabled"; fi
  if [[ "$ENV_CREATED" == yes ]]; then settings="$ENV_FILE created from the template"; else settings="$ENV_FILE kept"; fi
  [[ "$CHANGED" == yes ]] || log "nothing to change"
  printf '\ncw-agent %s: %s\n' "$NEW_VERSION" "$AGENT_CHANGE"
  printf '  units:    %s\n' "$units"
  printf '  settings: %s\n' "$settings"
  if [[ "$STAGING" == yes ]]; then
    printf 'Next (the last two on the gateway, once it runs this root):\n'
  else
    printf 'Next:\n'
  fi
  printf '  %-44s # %s\n' "sudoedit $ENV_FILE" "$edit" "$check" "checks the settings, the clock, the network and the broker" \
    "$start" "then: journalctl -u $service -f shows the pairing ID"
}

do_install() {
  run_step checks check_architecture
  run_step checks check_node
  run_step checks check_source
  step "system: $(uname -m), Node.js $("$NODE_BIN" --version) ($NODE_BIN)"
  run_step account ensure_users
  run_step agent install_agent
  run_step dependencies install_node_modules
  run_step instances migrate_instance_layout
  run_step settings install_env_file
  run_step units install_units
  run_step command install_cli
  run_step "man page and completion" install_extras
  run_step display enable_i2c
  run_step service enable_unit
  CURRENT_STEP=""
  commit
  start_again
  local restarted=0
  restart_if_running || restarted=$?
  summary
  return "$restarted"
}

# --- uninstall ---------------------------------------------------------------------------------

remove_path() {
  [[ -e "$1" || -L "$1" ]] || return 0
  rm -rf -- "$1"
  log "removed $1"
}

# A file the cw-agent package installed belongs to the package, not to this script.
owned_by_package() {
  [[ "$STAGING" == no ]] && command -v dpkg-query >/dev/null && dpkg-query -S "$1" >/dev/null 2>&1
}

staged_remove_account() {
  local file
  for file in "$ROOT/etc/passwd" "$ROOT/etc/group"; do
    [[ -f "$file" ]] || continue
    awk -F: -v OFS=: -v u="$USER_NAME" '
      $1 == u { next }
      NF >= 4 { n = split($4, m, ","); out = ""
                for (i = 1; i <= n; i++) if (m[i] != u) out = out (out == "" ? "" : ",") m[i]
                $4 = out }
      { print }' "$file" >"$file.cw-agent-new"
    cat "$file.cw-agent-new" >"$file"
    rm -f -- "$file.cw-agent-new"
  done
}

# --purge deletes credentials: an agent whose state is gone must be paired again. Lists what goes
# and asks on a terminal; without one it needs --yes.
confirm_purge() {
  local dir credentials=() settings=() answer
  if [[ -n "$INSTANCE" ]]; then
    [[ ! -e "$INSTANCE_STATE" ]] || credentials+=("$INSTANCE_STATE|$UNIT")
    [[ ! -e "$ENV_FILE" ]] || settings+=("$ENV_FILE")
  else
    [[ ! -e "$STATE" ]] || credentials+=("$STATE|cw-agent.service")
    for dir in "$ROOT"/var/lib/cw-agent@*; do
      [[ -e "$dir" ]] && credentials+=("$dir|cw-agent@${dir##*/cw-agent@}.service")
    done
    [[ ! -e "$ETC" ]] || settings+=("$ETC")
  fi
  ((${#credentials[@]} + ${#settings[@]} > 0)) || return 0
  if ((${#credentials[@]} > 0)); then
    log "--purge deletes the credentials of these agents; each must be paired again in Connectware:"
    for dir in "${credentials[@]}"; do printf '  %-40s %s\n' "${dir%|*}" "${dir##*|}"; done
  fi
  ((${#settings[@]} == 0)) || log "--purge deletes the settings: ${settings[*]}"
  [[ "$ASSUME_YES" == no ]] || return 0
  if [[ ! -t 0 ]]; then
    printf 'cw-agent install: error: --purge needs confirmation and there is no terminal to ask on: add --yes to delete the above, or use --uninstall to keep it\n' >&2
    DIED=yes
    exit 1
  fi
  read -r -p "Delete them? [y/N] " answer || answer=""
  case "$answer" in
    [yY] | [yY][eE][sS]) ;;
    *)
      printf 'cw-agent install: nothing removed\n' >&2
      DIED=yes
      exit 1
      ;;
  esac
}

do_uninstall() {
  local unit units=()
  [[ "$PURGE" == no ]] || confirm_purge
  if [[ -n "$INSTANCE" ]]; then
    units=("$UNIT")
  else
    units=(cw-agent.service)
    for unit in "$UNIT_DIR"/*.wants/cw-agent@*.service; do
      [[ -e "$unit" || -L "$unit" ]] && units+=("$(basename -- "$unit")")
    done
  fi
  if [[ "$STAGING" == yes ]]; then
    for unit in "${units[@]}"; do
      [[ -L "$(wants_link "$unit")" ]] || continue
      if command -v systemctl >/dev/null; then
        systemctl --root="$ROOT" disable --quiet "$unit"
      fi
      rm -f -- "$(wants_link "$unit")"
      log "disabled $unit in $ROOT"
    done
    rmdir -- "$UNIT_DIR/multi-user.target.wants" 2>/dev/null || true
  elif command -v systemctl >/dev/null; then
    for unit in "${units[@]}"; do systemctl disable --now --quiet "$unit" 2>/dev/null || true; done
  fi

  # Node.js's compile cache (CacheDirectory= of the units) holds nothing worth keeping.
  if [[ -n "$INSTANCE" ]]; then
    remove_path "$ROOT/var/cache/cw-agent@$INSTANCE"
    if [[ "$PURGE" == yes ]]; then
      remove_path "$ENV_FILE"
      remove_path "$INSTANCE_STATE"
    else
      log "kept $ENV_FILE and $INSTANCE_STATE (credentials); --purge removes them"
    fi
    log "the agent itself stays installed; run --uninstall without --instance to remove it"
    return 0
  fi

  remove_path "$UNIT_DIR/cw-agent.service"
  remove_path "$UNIT_DIR/cw-agent@.service"
  systemd_running && systemctl daemon-reload
  remove_path "$OPT"
  remove_path "$ROOT/usr/local/bin/cw-agent"
  local cache
  for cache in "$ROOT"/var/cache/cw-agent "$ROOT"/var/cache/cw-agent@*; do remove_path "$cache"; done
  local extra
  for extra in "$MAN_PAGE" "$COMPLETION"; do
    owned_by_package "$extra" || remove_path "$ROOT$extra"
  done
  if [[ "$PURGE" == yes ]]; then
    remove_path "$ETC"
    remove_path "$STATE"
    local instance_state
    for instance_state in "$ROOT"/var/lib/cw-agent@*; do
      [[ -e "$instance_state" ]] && remove_path "$instance_state"
    done
    if [[ "$STAGING" == yes ]]; then
      staged_remove_account
    else
      getent passwd "$USER_NAME" >/dev/null && userdel "$USER_NAME"
      getent group "$USER_NAME" >/dev/null && groupdel "$USER_NAME"
    fi
    log "removed user and group $USER_NAME (the gpio and i2c groups stay)"
  else
    log "kept $ETC (settings) and $STATE (credentials); --purge removes them"
  fi
  log "I2C settings in config.txt and $ROOT/etc/modules-load.d are left as they are"
}

if [[ "$ACTION" == install ]]; then do_install; else do_uninstall; fi
