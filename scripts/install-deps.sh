#!/usr/bin/env bash
# Install the Debian packages the workbench needs on the host. Idempotent:
# packages already installed are not touched, and nothing runs apt when all are present.
# usage: install-deps.sh [EXTRA-PACKAGE...]
set -euo pipefail

PACKAGES=(
	# build a kernel
	gcc make bc flex bison libelf-dev libssl-dev ccache git xz-utils perl python3-venv
	# kselftest install copies with rsync; the tests use pgrep/pkill and setpriv
	rsync procps util-linux
	# the default kernel source (Debian's linux-source-6.12, 6.12.x)
	linux-source-6.12
	# boot it: QEMU, and udev so the virtme-ng guest finds its script I/O ports
	qemu-system-x86 udev busybox-static kmod iproute2
	# filesystems the in-guest tests create
	e2fsprogs xfsprogs btrfs-progs
	# wb series: checkpatch.pl runs scripts/spdxcheck.py on new files
	python3-ply python3-git
	# the test suite: shellcheck on ci/wb-job.sh and (through actionlint) on
	# the GitHub workflow's scripts
	shellcheck
	# wb test --suite thirdparty: build liburing's tests and xfstests' fsstress
	# and splice-test (xfs_io, of xfsprogs, runs generic/249's commands);
	# patch applies our additions to them
	patch autoconf automake libtool xfslibs-dev uuid-dev libattr1-dev libacl1-dev libaio-dev
	libgdbm-dev libinih-dev liburcu-dev
	# wb precheck, what the robots build with: sparse (make C=1), clang/LLVM
	# (bookworm's 19, from its updates), the arm64 cross compiler; i386
	# builds with gcc -m32
	sparse clang-19 lld-19 llvm-19 gcc-aarch64-linux-gnu
	"$@"
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

if ((EUID != 0)); then
	echo "error: missing Debian packages: ${missing[*]}" >&2
	echo "install them as root with:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

echo ">> installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists only when they are absent or older than a day.
if [[ -z $(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1) ]]; then
	apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
