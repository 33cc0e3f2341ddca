#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs a kselftest that prints flat TAP (ksft_test_result_*) and has no
# option to choose its cases, and prints KTAP of the cases that matter here.
#
# usage: ksft-select.sh PATTERN PROGRAM [ARG...]
#
# mm/cow names its results by outcome ("ok 7 No leak from parent into
# child"), and the case is in the "# [RUN] DESC" line before it: each result
# is named by its [RUN] line (or by its own text when there is none). Only
# results whose name matches the awk regular expression PATTERN are kept,
# renumbered, with the diagnostics printed since the previous result.
# Exit: 1 when a kept case failed or PROGRAM could not run or died of a
# signal, 4 (skip) when no case matched, else 0. PROGRAM's own exit status is ignored otherwise:
# it also counts the cases that are dropped.

[ $# -ge 2 ] || { echo "usage: $0 PATTERN PROGRAM [ARG...]" >&2; exit 2; }
pattern=$1
shift
out=$(mktemp) || exit 1
"$@" > "$out" 2>&1
rc=$?
awk -v pattern="$pattern" -v rc="$rc" -v program="$1" '
/^# \[RUN\] / {
	run = substr($0, 9)
	notes = notes "\n" $0
	next
}
/^(not )?ok [0-9]+/ {
	ok = ($1 == "ok")
	text = $0
	sub(/^(not )?ok [0-9]+ ?/, "", text)
	directive = ""
	if (index(text, "# ") > 0) {
		directive = substr(text, index(text, "# "))
		text = substr(text, 1, index(text, "# ") - 1)
	}
	sub(/ +$/, "", text)
	name = run != "" ? run : text
	if (name ~ pattern) {
		kept++
		failed += !ok
		lines = lines notes "\n" (ok ? "ok " : "not ok ") kept " " name \
			(directive != "" ? " " directive : (ok ? "" : " # " text))
	}
	run = ""
	notes = ""
	next
}
/^#/ { notes = notes "\n" $0 }
END {
	if (rc == 126 || rc == 127) {
		print "# " program " could not be run (exit " rc ")"
		failed++
	} else if (rc > 128) {
		print "# " program " died of signal " rc - 128
		failed++
	}
	print "KTAP version 1"
	print "1.." kept + 0
	if (lines != "")
		print substr(lines, 2)
	print "# " kept + 0 " cases matched /" pattern "/, " failed + 0 " failed"
	exit failed ? 1 : (kept ? 0 : 4)
}' "$out"
status=$?
rm -f "$out"
exit $status
