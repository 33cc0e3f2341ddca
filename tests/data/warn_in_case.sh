#!/bin/sh
# A KTAP program that marks its cases in the kernel log, as
# kernel_tests/splice_integrity does, and provokes a real WARN (LKDTM) during
# its second case, for the golden "kernel report during a case" capture.
echo "TAP version 13"
echo "1..3"
for case in first second third; do
	echo "warn_in_case: begin case $case" > /dev/kmsg
	if [ $case = second ]; then
		mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
		echo WARNING > /sys/kernel/debug/provoke-crash/DIRECT
	fi
	sleep 1
done
echo "ok 1 first"
echo "ok 2 second"
echo "ok 3 third"
