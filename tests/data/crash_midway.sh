#!/bin/sh
# A KTAP program that panics the kernel after its first result, for the golden
# "crash mid-test" capture: the stream ends with results missing.
echo "TAP version 13"
echo "1..3"
echo "ok 1 before_the_crash"
echo "# about to panic the guest through sysrq"
# Let the output reach the host before the guest dies.
sleep 2
echo c > /proc/sysrq-trigger
sleep 5
echo "ok 2 never_printed"
