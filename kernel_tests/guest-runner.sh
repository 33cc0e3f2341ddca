#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the guest. Reads a plan of test programs and the filesystems to
# run them on, prints one KTAP v1 document with each (program, filesystem)
# as a subtest, and copies it to OUTDIR/results.ktap as it goes.
#
# usage: guest-runner.sh PLAN OUTDIR
#   PLAN lines: NAME<TAB>FILESYSTEM<TAB>COMMAND
#   FILESYSTEM: tmpfs, ext4, xfs, btrfs (loop images in the guest's /tmp),
#   9p (OUTDIR/9p-scratch on the host), or "none" (run in /tmp as it is).
#   The test program finds its directory in $SPLICE_TEST_DIR, and a
#   directory for files it wants kept with the results (reproducers) in
#   $SPLICE_TEST_OUT (OUTDIR/files/NAME, shared with the host; the program
#   creates it when it has something to keep).
#
# Markers written to /dev/kmsg ("wb-runner: begin NAME") let the host tie
# kernel reports in the console to the test that was running.

PLAN=$1
OUTDIR=$2
RESULTS=$OUTDIR/results.ktap
SCRATCH=/tmp/wb-fs
TEST_TIMEOUT=${WB_TEST_TIMEOUT:-600}

: > "$RESULTS"
# Test programs may mark each case in the kernel log (splice_integrity does,
# hundreds of times); the default rate limit of /dev/kmsg would drop most.
echo on > /proc/sys/kernel/printk_devkmsg 2>/dev/null
emit() {
	printf '%s\n' "$*" | tee -a "$RESULTS"
}

kmsg() {
	echo "wb-runner: $*" > /dev/kmsg 2>/dev/null
}

# " REASON" for a test that exited 4 (skip): the last line it printed,
# unless that line is KTAP, which carries its own reasons.
skip_reason() {
	last=$(grep -v '^[[:space:]]*$' "$1" | tail -n 1 | sed 's/^[[:space:]]*//')
	case $last in
	'' | '#'* | ok* | 'not ok'* | 1..* | KTAP* | TAP*) ;;
	*) printf ' %s' "$last" ;;
	esac
}

# Mount FILESYSTEM and print the directory tests should use; fail loudly.
prepare_fs() {
	fs=$1
	dir=$SCRATCH/$fs
	case $fs in
	none)
		echo /tmp
		return 0
		;;
	9p)
		# The run directory vng shares; virtio-fs would be another test.
		# (statfs() on 9p reports the host filesystem's type: ask mounts.)
		fstype=$(awk -v dir="$OUTDIR" '$2 == dir { type = $3 } END { print type }' \
			/proc/mounts)
		[ "$fstype" = 9p ] || {
			echo "$OUTDIR is ${fstype:-no mount} in the guest, not 9p" >&2
			return 1
		}
		mkdir -p "$OUTDIR/9p-scratch" && echo "$OUTDIR/9p-scratch"
		return
		;;
	esac
	if mountpoint -q "$dir" 2>/dev/null; then
		echo "$dir"
		return 0
	fi
	mkdir -p "$dir" || return 1
	case $fs in
	tmpfs)
		mount -t tmpfs -o size=512m tmpfs "$dir" || return 1
		;;
	ext4 | xfs | btrfs)
		img=$SCRATCH/$fs.img
		truncate -s 320M "$img" || return 1
		case $fs in
		ext4) mkfs.ext4 -q -F "$img" ;;
		xfs) mkfs.xfs -q -f "$img" ;;
		btrfs) mkfs.btrfs -q -f "$img" ;;
		esac >/dev/null 2>&1 || { echo "mkfs.$fs failed" >&2; return 1; }
		mount -o loop "$img" "$dir" || return 1
		;;
	*)
		echo "unknown filesystem '$fs'" >&2
		return 1
		;;
	esac
	echo "$dir"
}

count=$(grep -c . "$PLAN")
emit "KTAP version 1"
emit "1..$count"
number=0
tab=$(printf '\t')
while IFS="$tab" read -r name fs command; do
	[ -n "$name" ] || continue
	number=$((number + 1))
	emit "    # Subtest: $name"
	if ! dir=$(prepare_fs "$fs" 2>/tmp/wb-fs.err); then
		emit "    # cannot prepare $fs: $(tr '\n' ' ' < /tmp/wb-fs.err)"
		emit "ok $number $name # SKIP $fs not available in this kernel"
		continue
	fi
	kmsg "begin $name"
	rcfile=/tmp/wb-rc.$number
	outfile=/tmp/wb-out.$number
	{
		cd "$dir" && SPLICE_TEST_DIR=$dir SPLICE_TEST_OUT=$OUTDIR/files/$name \
			timeout -k 10 "$TEST_TIMEOUT" sh -c "$command" 2>&1 < /dev/null
		echo $? > "$rcfile"
	} | sed -u 's/^/    /' | tee "$outfile" | tee -a "$RESULTS"
	rc=$(cat "$rcfile" 2>/dev/null || echo 255)
	kmsg "end $name rc=$rc"
	case $rc in
	0) emit "ok $number $name" ;;
	4) emit "ok $number $name # SKIP$(skip_reason "$outfile")" ;;
	124 | 137) emit "not ok $number $name # TIMEOUT after ${TEST_TIMEOUT}s" ;;
	*) emit "not ok $number $name # exit=$rc" ;;
	esac
done < "$PLAN"
