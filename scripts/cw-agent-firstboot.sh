#!/bin/sh
# Installs the cw-agent package that prepare-card put on the boot partition, without network.
# Called once by the operating system's first-boot mechanism (firstrun.sh or cloud-init runcmd);
# the result goes to cw-agent/firstboot.log next to it, readable on any computer.
for dir in /boot/firmware/cw-agent /boot/cw-agent; do
  [ -d "$dir" ] && break
done
log="$dir/firstboot.log"
{
  echo "cw-agent first boot: $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
  set -- "$dir"/*.deb
  if [ ! -f "$1" ]; then
    echo "no package in $dir; nothing to install"
    exit 0
  fi
  # The settings in cw-agent.txt are applied at the next start by cw-agent-boot-config.service.
  if DEBIAN_FRONTEND=noninteractive dpkg -i "$@"; then
    echo "installed: $*"
    rm -f -- "$@"
  else
    echo "dpkg failed; the package stays on the card"
  fi
} >>"$log" 2>&1
sync
exit 0
