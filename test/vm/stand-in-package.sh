#!/usr/bin/env bash
# Builds a stand-in cw-agent .deb for the VM test where the repository cannot build the real
# package yet (no scripts/package/build.sh): the built agent, its node_modules and this machine's
# node, installed by the package's postinst through install.sh exactly as on a gateway.
#   stand-in-package.sh OUT_DIR    prints the path of the .deb
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$1"
stage="$(mktemp -d)"
trap 'rm -rf -- "$stage"' EXIT
rel="$stage/usr/lib/cw-agent-release"
mkdir -p "$rel/dist" "$stage/DEBIAN"
cp -a "$root/dist/src" "$rel/dist/src"
cp -a "$root/package.json" "$root/package-lock.json" "$root/install.sh" "$root/systemd" "$rel/"
# Production modules only, as `npm ci --omit=dev` would leave them.
(cd "$root" && npm ls --omit=dev --parseable --all 2>/dev/null) | grep /node_modules/ | while read -r dir; do
  mkdir -p "$rel/node_modules/$(dirname "${dir#"$root"/node_modules/}")"
  cp -a "$dir" "$rel/node_modules/${dir#"$root"/node_modules/}"
done
install -m 0755 "$(command -v node)" "$rel/node"
version="$(node -p 'require(process.argv[1]).version' "$root/package.json")"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: cw-agent
Version: ${version}~vmtest
Architecture: amd64
Maintainer: cw-agent maintainers <maintainers@cw-agent.invalid>
Description: cw-agent (VM test stand-in installed through install.sh)
CONTROL
cat >"$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
[ "$1" = configure ] || exit 0
rel=/usr/lib/cw-agent-release
install -m 0755 "$rel/node" /usr/local/bin/node
(cd "$rel" && ./install.sh --skip-npm)
rm -rf /opt/cw-agent/node_modules
cp -a "$rel/node_modules" /opt/cw-agent/node_modules
sed 's#^ExecStart=/usr/bin/node #ExecStart=/usr/local/bin/node #' "$rel/systemd/cw-agent-boot-config.service" \
  >/etc/systemd/system/cw-agent-boot-config.service
install -m 0644 "$rel/systemd/cw-agent-i2c-refresh.service" /etc/systemd/system/
install -m 0644 "$rel/systemd/cw-agent-i2c.rules" /etc/udev/rules.d/60-cw-agent-i2c.rules
install -m 0644 "$rel/systemd/cw-agent-modules.conf" /etc/modules-load.d/cw-agent.conf
systemctl daemon-reload || true
systemctl enable cw-agent-boot-config.service
SCRIPT
cat >"$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
[ "$1" = remove ] || exit 0
systemctl disable cw-agent-boot-config.service || true
rm -f /etc/systemd/system/cw-agent-boot-config.service /etc/systemd/system/cw-agent-i2c-refresh.service \
  /etc/udev/rules.d/60-cw-agent-i2c.rules /etc/modules-load.d/cw-agent.conf
(cd /usr/lib/cw-agent-release && ./install.sh --uninstall)
SCRIPT
cat >"$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = purge ]; then
  rm -rf /etc/cw-agent /var/lib/cw-agent
  if getent passwd cw-agent >/dev/null; then userdel cw-agent; fi
fi
SCRIPT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
mkdir -p "$out"
deb="$out/cw-agent_${version}~vmtest_amd64.deb"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$stage" "$deb" >/dev/null
echo "$deb"
