"""Stand-ins for what wb drives: vng and qemu-system-x86_64 replaying captured
boots (the executables here), and a kernel-shaped source tree (fakelinux)."""

from pathlib import Path

FAKES = Path(__file__).resolve().parent
