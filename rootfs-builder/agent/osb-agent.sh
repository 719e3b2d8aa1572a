#!/bin/sh
# osb's built-in smoke-test agent: a tiny init for proving that a guest boots.
# POSIX sh only (runs under dash and busybox sh). As PID 1 it mounts the pseudo
# filesystems, prints one ready line to the console, runs osb.cmd= from the kernel
# command line if given, then powers the machine off. Under systemd it runs as a
# service and leaves power to systemd unless osb.poweroff=1 is on the command line.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

mountfs() { # type target
	mountpoint -q "$2" 2>/dev/null && return 0
	[ -d "$2" ] || mkdir -p "$2" 2>/dev/null
	mount -t "$1" "$1" "$2" 2>/dev/null
}

if [ "$$" = 1 ]; then
	mountfs proc /proc
	mountfs sysfs /sys
	mountfs devtmpfs /dev
	[ -c /dev/console ] && exec </dev/console >/dev/console 2>&1
fi

# Measured boot: with a TPM, the PCR 11 systemd-stub extended (osb boot --uki compares it with
# osb's prediction). The TPM driver may still be probing when init starts: wait up to 2 s.
if [ -d /sys/class/tpm ]; then
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		[ -r /sys/class/tpm/tpm0/pcr-sha256/11 ] && break
		sleep 0.2 2>/dev/null || sleep 1
	done
	[ -r /sys/class/tpm/tpm0/pcr-sha256/11 ] && echo "osb-agent: tpm pcr-sha256/11=$(cat /sys/class/tpm/tpm0/pcr-sha256/11)"
fi

uptime=$(cut -d' ' -f1 /proc/uptime 2>/dev/null)
echo "osb-agent: ready uptime=${uptime:-unknown}"

cmd=
poweroff_after=0
[ "$$" = 1 ] && poweroff_after=1
for arg in $(cat /proc/cmdline 2>/dev/null); do
	case "$arg" in
	osb.cmd=*) cmd=$(echo "${arg#osb.cmd=}" | tr ',' ' ') ;;
	osb.poweroff=1) poweroff_after=1 ;;
	esac
done

status=0
if [ -n "$cmd" ]; then
	echo "osb-agent: running: $cmd"
	sh -c "$cmd"
	status=$?
	echo "osb-agent: exit status=$status"
fi

if [ "$poweroff_after" = 1 ]; then
	sync
	if [ "$$" = 1 ]; then
		# As PID 1 there is no init to ask: power off directly.
		poweroff -f 2>/dev/null || busybox poweroff -f 2>/dev/null || echo o >/proc/sysrq-trigger
	else
		systemctl poweroff 2>/dev/null || poweroff
	fi
	# poweroff returns before the machine stops; PID 1 must not exit meanwhile (kernel panic).
	while :; do sleep 1; done
fi
exit "$status"
