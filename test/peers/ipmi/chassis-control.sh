#!/bin/sh
# ipmi_sim `chassis_control` program for the IPMI peer tests (see harness.ts).
#
# lan.conf:  chassis_control "<this script> <statedir>"
# ipmi_sim (lanserv/extcmd.c) runs it with popen(), i.e. through `/bin/sh -c`, appending
#   get <name>...                  -> must print `<name>:<value>` lines and exit 0
#   set <name> "<value>" ...       -> must exit 0 (non-zero => completion code 0xFF)
#   check <name> "<value>" ...     (only used for LAN parameters; accepted and ignored)
# The values are double-quoted by ipmi_sim, so after the shell has parsed them the script
# sees plain argv words: `set power 1`, `set boot pxe`, `set identify "15 0"` (one word).
# Names: power (0|1), reset (1), shutdown (1), boot (none|pxe|default|cdrom|bios),
# identify ("<interval> <force>").
#
# State (all under <statedir>): power (0|1), boot (device name), identify, chassis.log.
# chassis.log gets one line per call: `<uptime seconds> set power 1` for a set (the stamp is
# /proc/uptime, centisecond resolution, monotonic) and `- get power` for a get.
#
# Fork-free: only shell builtins (read, echo, case, redirections), because ipmi_sim runs this
# for every Get Chassis Status / Chassis Control (reference gotcha G3).

dir=$1
[ -n "$dir" ] || { echo "usage: $0 <statedir> get|set|check <name> [value] ..." >&2; exit 2; }
op=$2
[ $# -ge 2 ] && shift 2 || shift $#
log="$dir/chassis.log"

case $op in
get)
  echo "- get $*" >>"$log"
  for name in "$@"; do
    case $name in
    power)
      v=
      [ -r "$dir/power" ] && read -r v <"$dir/power"
      case $v in 1) echo "power:1" ;; *) echo "power:0" ;; esac
      ;;
    boot)
      v=
      [ -r "$dir/boot" ] && read -r v <"$dir/boot"
      echo "boot:${v:-none}"
      ;;
    *)
      echo "chassis-control: cannot get '$name'" >&2
      exit 1
      ;;
    esac
  done
  ;;
set)
  now=-
  [ -r /proc/uptime ] && read -r now _ </proc/uptime
  echo "$now set $*" >>"$log"
  while [ $# -ge 2 ]; do
    name=$1 value=$2
    shift 2
    case $name in
    power)
      case $value in 0 | 1) echo "$value" >"$dir/power" ;; *) exit 1 ;; esac
      ;;
    shutdown)
      # Soft off (ACPI): the simulated OS shuts down at once.
      [ "$value" = 1 ] && echo 0 >"$dir/power"
      ;;
    reset)
      # Hard reset: the power state does not change.
      ;;
    boot)
      case $value in none | pxe | default | cdrom | bios) echo "$value" >"$dir/boot" ;; *) exit 1 ;; esac
      ;;
    identify)
      echo "$value" >"$dir/identify"
      ;;
    *)
      echo "chassis-control: cannot set '$name'" >&2
      exit 1
      ;;
    esac
  done
  [ $# -eq 0 ] || exit 1
  ;;
check)
  echo "- check $*" >>"$log"
  ;;
*)
  echo "chassis-control: unknown operation '$op'" >&2
  exit 2
  ;;
esac
exit 0
