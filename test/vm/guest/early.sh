#!/bin/bash
# Before the agent starts: record every SMBus write in the kernel's trace buffer, create the fake
# display chip, start the Connectware simulator on loopback and wait until it answers.
set -u
mkdir -p /var/lib/vmtest
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing
echo 4096 >/sys/kernel/tracing/buffer_size_kb
echo 1 >/sys/kernel/tracing/events/smbus/smbus_write/enable
modprobe i2c-stub chip_addr=0x3c
systemd-run --quiet --unit=cw-sim --property=StandardOutput=journal \
  /opt/vmtest/node /opt/vmtest/tools/dist/test/vm/guest/sim.js
for _ in $(seq 1 100); do
  if (exec 3<>/dev/tcp/127.0.0.1/8099) 2>/dev/null; then exit 0; fi
  sleep 0.2
done
echo "VMTEST early: the simulator did not start"
exit 1
