#!/bin/bash
# The guest half of `npm run test:vm`: runs the checks of one boot, chosen by cwtest.step= on the
# kernel command line, and prints one line per check on the serial console:
#   VMTEST PASS|FAIL <check> <seconds> <detail>
# Between boots it keeps what it expects in /var/lib/vmtest, written durably before the host may
# cut the power. The guest powers off when this script ends.
exec >/dev/ttyS0 2>&1
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
V=/opt/vmtest
NODE=$V/node
TOOLS=$V/tools/dist/test/vm/guest
STATE=/var/lib/vmtest
BOOT=/boot/firmware
AGENT_STATE=/var/lib/cw-agent
mkdir -p "$STATE"
step="$(sed -n 's/.*cwtest\.step=\([^ ]*\).*/\1/p' /proc/cmdline)"
failures=0

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
pass() { echo "VMTEST PASS $1 $(since "$2") ${3:-}"; }
fail() {
  echo "VMTEST FAIL $1 $(since "$2") ${3:-}"
  failures=$((failures + 1))
  # What the host needs to see to tell why, without a login.
  systemctl --no-pager --lines=0 status cw-agent cw-sim 2>&1 | grep -E '●|Active:|Main PID:|Status:' | sed 's/^/  | /'
  journalctl --no-pager -o short-monotonic -n 12 -u cw-agent -u cw-sim 2>&1 | cut -c1-300 | sed 's/^/  | /'
}
# check NAME START DETAIL CONDITION...: one line, pass when the condition holds.
check() {
  local name="$1" start="$2" detail="$3"
  shift 3
  if "$@"; then pass "$name" "$start" "$detail"; else fail "$name" "$start" "$detail"; fi
}
# wait_for SECONDS CMD...: poll every 0.5 s.
wait_for() {
  local deadline=$(($(date +%s) + $1))
  shift
  until "$@"; do
    (($(date +%s) < deadline)) || return 1
    sleep 0.5
  done
}
tool() { "$NODE" "$TOOLS/vmtool.js" "$@"; }
# The agent's database is read as the agent's user, so no file it owns changes hands.
db() { runuser -u cw-agent -- "$NODE" "$TOOLS/vmtool.js" db "$AGENT_STATE"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
status_text() { systemctl show -p StatusText --value cw-agent; }
is_pending() { status_text | grep -q '^Waiting for authorization, pairing ID '; }
is_online() { status_text | grep -q '^Online'; }
main_pid() { systemctl show -p MainPID --value cw-agent; }
register_calls() { tool register-calls | grep -o '"username"' | wc -l; }
# Durable: the host may cut the power right after the next line on the console.
remember() {
  printf '%s\n' "$2" >"$STATE/$1.tmp" && sync "$STATE/$1.tmp" && mv "$STATE/$1.tmp" "$STATE/$1" && sync "$STATE"
}
recall() { cat "$STATE/$1" 2>/dev/null; }
phase() { echo "VMTEST PHASE $1"; }

echo "VMTEST BEGIN $step $(now)"

# --- scenario 1: first boot from the prepared card -------------------------------------------------
first_boot() {
  local t
  t=$(now)
  check 1-package-installed "$t" "$(dpkg-query -W -f='${Package} ${Version} ${Status}' cw-agent 2>&1)" \
    bash -c "dpkg-query -W -f='\${Status}' cw-agent | grep -q 'install ok installed'"
  check 1-firstboot-cleaned-up "$t" "$(tr -d '\n' <"$BOOT/cmdline.txt")" \
    bash -c "! grep -q systemd.run $BOOT/cmdline.txt && [ ! -e $BOOT/firstrun.sh ] && grep -q installed: $BOOT/cw-agent/firstboot.log"

  t=$(now)
  local env=/etc/cw-agent/cw-agent.env
  check 1-boot-config-applied "$t" "$(stat -c '%a %U:%G' $env) $(ls $BOOT | grep cw-agent | tr '\n' ' ')" \
    bash -c "[ -f $BOOT/cw-agent.txt.applied ] && [ ! -e $BOOT/cw-agent.txt ] && [ \"\$(stat -c '%a %U:%G' $env)\" = '640 root:cw-agent' ] && grep -q '^CYBUS_MQTT_HOST=127.0.0.1$' $env && grep -q '^CW_AGENT_CA_FILE=/etc/cw-agent/ca.pem$' $env && [ -s /etc/cw-agent/ca.pem ]"
  local applied_at started_at
  applied_at=$(systemctl show -p ExecMainExitTimestampMonotonic --value cw-agent-boot-config)
  started_at=$(systemctl show -p ExecMainStartTimestampMonotonic --value cw-agent)
  check 1-boot-config-before-agent "$t" "applied at ${applied_at}us, agent started at ${started_at}us" \
    test "${applied_at:-0}" -gt 0 -a "${applied_at:-0}" -lt "${started_at:-0}"

  t=$(now)
  wait_for 90 is_pending
  local text pairing pid
  text="$(status_text)"
  pairing="${text##* }"
  check 1-status-pending "$t" "StatusText=\"$text\"" \
    bash -c "systemctl status --no-pager cw-agent | grep -q 'Waiting for authorization, pairing ID $pairing'"
  pid=$(main_pid)
  check 1-sandbox "$t" "pid $pid uid $(awk '/^Uid:/ {print $2}' /proc/$pid/status) $(systemctl show -p DevicePolicy,ProtectSystem,NoNewPrivileges cw-agent | tr '\n' ' ')" \
    bash -c "[ \"\$(awk '/^Uid:/ {print \$2}' /proc/$pid/status)\" = \"\$(id -u cw-agent)\" ] && systemctl show -p DevicePolicy --value cw-agent | grep -q closed && systemctl show -p ProtectSystem --value cw-agent | grep -q strict"
  local dbline
  dbline="$(db)"
  check 1-pairing-id-stored "$t" "$(echo "$dbline" | sed 's/"secret":"[^"]*",//')" \
    bash -c "[ '$(echo "$dbline" | field pairingId)' = '$pairing' ] && [ '$(echo "$dbline" | field status)' = pending ] && [ '$(echo "$dbline" | field integrity)' = ok ]"

  t=$(now)
  # Give the display its first full picture, then compare the chip's RAM with the renderer's.
  local trace=/tmp/smbus.trace agent_name
  agent_name="$(sed -n 's/^CYBUS_AGENT_NAME=//p' $env)"
  wait_for 20 bash -c "cat /sys/kernel/tracing/trace >$trace; $NODE $TOOLS/vmtool.js oled-pairing-id $pairing $agent_name $trace >/dev/null"
  check 1-display-shows-pairing-id "$t" "$(tool oled-pairing-id "$pairing" "$agent_name" "$trace") via $(ls /dev/i2c-* | tr '\n' ' ')writes $(grep -c 'a=03c' $trace)" \
    tool oled-pairing-id "$pairing" "$agent_name" "$trace"

  t=$(now)
  local warnings
  warnings="$(journalctl -u cw-agent -p warning -o cat --no-pager)"
  check 1-journal-warnings-only "$t" "$(printf '%s' "$warnings" | grep -c . ) lines at priority warning or above" \
    bash -c "journalctl -u cw-agent -p warning -o cat --no-pager | grep '^{' | $NODE -e '
      const lines = require(\"fs\").readFileSync(0, \"utf8\").split(\"\\n\").filter(Boolean);
      process.exit(lines.every((l) => JSON.parse(l).level >= 40) ? 0 : 1)'"
  [[ -z "$warnings" ]] || printf '%s\n' "$warnings" | head -5 | sed 's/^/  journal: /'

  status_led
  sha256sum "$env" | cut -d' ' -f1 >"$STATE/env.sha256"
  remember pairing "$pairing"
}

# The guest's kernel LED: the emulated PS/2 keyboard's Scroll Lock (input-leds), an LED class device
# under /sys/devices/platform like a Raspberry Pi's ACT LED. The technician's steps: the udev rule
# of docs/indicators.md for the LED, the setting, a restart. Pending: the slow blink, 1 s on, 1 s off.
status_led() {
  local t led dir
  t=$(now)
  dir="$(ls -d /sys/class/leds/*::scrolllock 2>/dev/null | head -1)"
  if [[ -z "$dir" ]]; then
    echo "VMTEST SKIP 1-status-led-blinks 0s no LED class device in the guest ($(ls /sys/class/leds | tr '\n' ' '))"
    return
  fi
  led="$(basename "$dir")"
  printf 'SUBSYSTEM=="leds", KERNEL=="%s", ACTION=="add", RUN+="/bin/chgrp gpio /sys%%p/brightness /sys%%p/trigger", RUN+="/bin/chmod g+w /sys%%p/brightness /sys%%p/trigger"\n' \
    "$led" >/etc/udev/rules.d/99-cw-agent-leds.rules
  udevadm control --reload
  udevadm trigger --subsystem-match=leds --action=add
  udevadm settle
  echo "CW_AGENT_LED_STATUS=led:$led" >>/etc/cw-agent/cw-agent.env
  systemctl restart cw-agent
  wait_for 90 is_pending
  sleep 1
  local blinks ok=0
  blinks="$(tool led-blink "$led" 7 1000 1000)" || ok=1
  check 1-status-led-blinks "$t" "led:$led $(stat -c '%G %A' "$dir/brightness") $blinks" test $ok = 0
}

# --- scenario 2: grant, StatusText, watchdog -------------------------------------------------------
grant_and_watchdog() {
  local t pairing secret
  pairing="$(recall pairing)"
  t=$(now)
  tool grant "$pairing" >/dev/null
  wait_for 60 is_online
  check 2-online-after-grant "$t" "StatusText=\"$(status_text)\"" is_online
  tool remember-users "$AGENT_STATE" >/dev/null
  secret="$(db | field secret)"
  remember secret "$secret"
  local calls pid nrestarts
  calls=$(register_calls)
  pid=$(main_pid)
  nrestarts=$(systemctl show -p NRestarts --value cw-agent)
  t=$(now)
  kill -STOP "$pid"
  # A new main process that is online again; StatusText alone may still be the old process's.
  wait_for 240 bash -c "[ \"\$(systemctl show -p NRestarts --value cw-agent)\" -gt $nrestarts ] && [ \"\$(systemctl show -p MainPID --value cw-agent)\" -ne 0 ] && [ \"\$(systemctl show -p MainPID --value cw-agent)\" -ne $pid ] && systemctl show -p StatusText --value cw-agent | grep -q ^Online"
  check 2-watchdog-restart "$t" "pid $pid -> $(main_pid), NRestarts $nrestarts -> $(systemctl show -p NRestarts --value cw-agent), WatchdogUSec=$(systemctl show -p WatchdogUSec --value cw-agent)" \
    bash -c "[ \"\$(systemctl show -p MainPID --value cw-agent)\" != $pid ] && journalctl -u cw-agent --no-pager | grep -q 'Watchdog timeout' && systemctl show -p StatusText --value cw-agent | grep -q ^Online"
  check 2-same-credentials "$t" "registration requests $calls -> $(register_calls)" \
    bash -c "[ \"\$($NODE $TOOLS/vmtool.js register-calls | grep -o '\"username\"' | wc -l)\" = $calls ] && [ \"\$(runuser -u cw-agent -- $NODE $TOOLS/vmtool.js db $AGENT_STATE | sed -n 's/.*\"secret\":\"\([^\"]*\)\".*/\1/p')\" = $secret ]"
}

# --- scenario 3 (and 5): after a reboot; the host planted an invalid cw-agent.txt ---------------------
after_reboot() {
  local t
  t=$(now)
  wait_for 90 is_online
  check 3-online-after-reboot "$t" "StatusText=\"$(status_text)\", registration requests this boot: $(register_calls)" \
    bash -c "systemctl show -p StatusText --value cw-agent | grep -q ^Online && [ \"\$($NODE $TOOLS/vmtool.js register-calls)\" = '[]' ]"
  check 3-same-credentials "$t" "" test "$(db | field secret)" = "$(recall secret)"
  t=$(now)
  check 5-invalid-file-renamed "$t" "$(ls $BOOT | grep cw-agent | tr '\n' ' ')" \
    bash -c "[ -f $BOOT/cw-agent.txt.invalid ] && [ -f $BOOT/cw-agent.txt.errors ] && [ ! -e $BOOT/cw-agent.txt ]"
  check 5-errors-name-lines "$t" "$(grep -c '^line ' $BOOT/cw-agent.txt.errors) lines: $(grep '^line ' $BOOT/cw-agent.txt.errors | head -2 | tr -d '\r' | tr '\n' '|')" \
    bash -c "grep -q '^line 2: CYBUS_MQTT_PORT=\"70000\" is invalid' $BOOT/cw-agent.txt.errors && grep -q '^line 3: unknown setting' $BOOT/cw-agent.txt.errors"
  check 5-previous-config-kept "$t" "boot-config unit $(systemctl is-failed cw-agent-boot-config)" \
    bash -c "[ \"\$(sha256sum /etc/cw-agent/cw-agent.env | cut -d' ' -f1)\" = \"$(recall env.sha256)\" ] && systemctl is-failed --quiet cw-agent-boot-config && journalctl -u cw-agent-boot-config --no-pager | grep -q 'line 2: CYBUS_MQTT_PORT'"
  # The technician in front of the box sees it too: the agent's log and its display.
  t=$(now)
  local trace=/tmp/smbus-notice.trace
  wait_for 20 bash -c "cat /sys/kernel/tracing/trace >$trace; $NODE $TOOLS/vmtool.js oled-notice 'cw-agent.txt invalid' $trace >/dev/null"
  check 5-display-shows-rejection "$t" "$(tool oled-notice 'cw-agent.txt invalid' "$trace"), log: $(journalctl -b -u cw-agent -p warning -o cat --no-pager | grep -c 'cw-agent.txt on the boot partition was rejected') warning lines" \
    bash -c "tool() { $NODE $TOOLS/vmtool.js \"\$@\"; }; tool oled-notice 'cw-agent.txt invalid' $trace && journalctl -b -u cw-agent -p warning -o cat --no-pager | grep -q 'cw-agent.txt on the boot partition was rejected'"
}

# --- scenario 4: power cuts ---------------------------------------------------------------------------
# Checks what the previous cut left, then brings the agent to the moment of the next cut, records
# what must survive it, and prints the PHASE line after which the host may kill the machine.
verify_cut() {
  local t expect dbline status secret corrupt
  expect="$(recall expect)"
  [[ -n "$expect" ]] || return 0
  t=$(now)
  dbline="$(db)"
  status="$(echo "$dbline" | field status)"
  secret="$(echo "$dbline" | field secret)"
  corrupt="$(ls $AGENT_STATE | grep -c corrupt || true)"
  check "4-db-intact-after-cut-${expect%% *}" "$t" "integrity $(echo "$dbline" | field integrity), status $status, moved-aside files $corrupt" \
    bash -c "[ '$(echo "$dbline" | field integrity)' = ok ] && [ $corrupt = 0 ] && ! journalctl -b -u cw-agent --no-pager | grep -q damaged"
  set -- $expect
  case "$1" in
    pending)
      check 4-pairing-id-unchanged "$t" "expected $2, stored $(echo "$dbline" | field pairingId) ($status)" \
        test "$status" = pending -a "$(echo "$dbline" | field pairingId)" = "$2"
      ;;
    granting)
      # The grant may or may not have reached the database; the credentials must be the same.
      check 4-credentials-kept-across-grant "$t" "status $status" test "$secret" = "$2"
      if [[ "$status" == granted ]]; then
        wait_for 60 is_online
        check 4-no-second-registration "$t" "registration requests this boot: $(register_calls)" test "$(register_calls)" = 0
      fi
      ;;
    granted)
      wait_for 60 is_online
      check 4-granted-credentials-kept "$t" "status $status, registration requests this boot: $(register_calls)" \
        test "$status" = granted -a "$secret" = "$2" -a "$(register_calls)" = 0
      ;;
    registering)
      check 4-registration-consistent "$t" "status $status" test "$status" = none -o "$status" = pending
      ;;
  esac
}

# A fresh identity: Connectware forgets the old user, the agent discards its credentials.
fresh_registration() {
  tool forget-users >/dev/null
  cw-agent reset --yes >/dev/null
}

prepare_cut() {
  local mode="$1" pairing
  wait_for 90 bash -c "systemctl show -p StatusText --value cw-agent | grep -Eq '^(Online|Waiting for authorization)'"
  case "$mode" in
    registering)
      remember expect "registering"
      fresh_registration
      phase registering
      ;;
    pending)
      fresh_registration
      sleep 1
      wait_for 60 is_pending
      pairing="$(status_text)"
      pairing="${pairing##* }"
      remember expect "pending $pairing"
      phase pending
      ;;
    granted)
      if ! is_pending; then
        fresh_registration
        sleep 1
        wait_for 60 is_pending
      fi
      pairing="$(status_text)"
      pairing="${pairing##* }"
      remember expect "granting $(db | field secret)"
      tool grant "$pairing" >/dev/null
      tool remember-users "$AGENT_STATE" >/dev/null
      phase granted
      ;;
    online)
      if ! is_online; then
        is_pending || { fresh_registration; sleep 1; wait_for 60 is_pending; }
        pairing="$(status_text)"
        tool grant "${pairing##* }" >/dev/null
        tool remember-users "$AGENT_STATE" >/dev/null
        wait_for 60 is_online
      fi
      remember expect "granted $(db | field secret)"
      phase online
      ;;
  esac
  # Wait for the cut; the host kills the machine within seconds.
  sleep 300
}

# --- scenario 6: the I2C driver appears after the agent started ------------------------------------
arm_i2c_late() {
  # The next boot cannot load i2c-dev before the agent starts, as when I2C is enabled later.
  echo 'install i2c_dev /bin/false' >/etc/modprobe.d/vmtest-i2c-late.conf
  sync
}

i2c_late() {
  local t pid
  t=$(now)
  # Settled: online, or pending when the last power cut came while it was.
  wait_for 90 bash -c "systemctl show -p StatusText --value cw-agent | grep -Eq '^(Online|Waiting for authorization)'"
  pid=$(main_pid)
  check 6-agent-started-without-bus "$t" "$(ls /dev/i2c-* 2>&1 | head -1), StatusText=\"$(status_text)\"" \
    bash -c "[ ! -e /dev/i2c-0 ] && systemctl is-active --quiet cw-agent"
  rm -f /etc/modprobe.d/vmtest-i2c-late.conf
  echo >/sys/kernel/tracing/trace
  t=$(now)
  modprobe i2c-dev
  wait_for 150 grep -q 'a=03c' /sys/kernel/tracing/trace
  # The refresh leaves its runtime drop-in: proof that the udev rule, not luck, let the agent in.
  local dropin=/run/systemd/system.control/cw-agent.service.d/50-DeviceAllow.conf
  check 6-display-recovers-without-restart "$t" "pid $pid -> $(main_pid), $(grep -c 'a=03c' /sys/kernel/tracing/trace) writes to 0x3c, $(grep -h DeviceAllow $dropin 2>&1 | tr '\n' ' ')" \
    bash -c "[ \"\$(systemctl show -p MainPID --value cw-agent)\" = $pid ] && grep -q 'a=03c' /sys/kernel/tracing/trace && grep -q char-i2c $dropin"
  # check probes the bus as root, outside the sandbox, and asks the agent how it sees its display.
  local report
  t=$(now)
  report="$(cw-agent check 2>&1 | grep -E '^\[[a-z]+\] +display' | tr -s ' ')"
  check 6-check-reports-agent-display "$t" "$(printf '%s' "$report" | tr '\n' '|')" \
    bash -c "printf '%s' \"\$1\" | grep -q '^\[ok\] display-agent the running agent'" _ "$report"
}

# --- scenario 7: remove keeps the state, purge removes it -------------------------------------------
remove_and_purge() {
  local t
  t=$(now)
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -q cw-agent >/tmp/remove.log 2>&1
  check 7-remove-keeps-state "$t" "$(ls /var/lib/cw-agent /etc/cw-agent 2>&1 | tr '\n' ' ')" \
    bash -c "! dpkg-query -W -f='\${Status}' cw-agent 2>/dev/null | grep -q 'install ok installed' && [ -s /var/lib/cw-agent/cw-agent.db ] && [ -f /etc/cw-agent/cw-agent.env ] && ! systemctl is-active --quiet cw-agent"
  t=$(now)
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -q cw-agent >/tmp/purge.log 2>&1
  check 7-purge-removes-state "$t" "$(ls -d /var/lib/cw-agent /etc/cw-agent 2>&1 | tr '\n' ' ')" \
    bash -c "[ ! -e /var/lib/cw-agent ] && [ ! -e /etc/cw-agent ] && ! dpkg-query -W cw-agent >/dev/null 2>&1"
}

case "$step" in
  first)
    first_boot
    grant_and_watchdog
    ;;
  reboot)
    after_reboot
    ;;
  cut-*)
    verify_cut
    # The last cut: the boot after it verifies the cut and starts without an I2C bus.
    [[ "$step" != *.last ]] || arm_i2c_late
    step="${step%.last}"
    prepare_cut "${step#cut-}"
    ;;
  final)
    verify_cut
    arm_i2c_late
    ;;
  i2c-late)
    verify_cut
    i2c_late
    remove_and_purge
    ;;
  *)
    echo "VMTEST FAIL driver 0s unknown step '$step'"
    failures=1
    ;;
esac
echo "VMTEST END $step failures=$failures $(now)"
exit 0
