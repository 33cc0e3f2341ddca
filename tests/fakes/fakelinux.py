"""A kernel-shaped git tree on which the real `wb` runs end to end in seconds
(after TuxMake's fakelinux).

The tree has what wb's stages use of a kernel tree, and nothing more:
- a top Makefile with VERSION/PATCHLEVEL/SUBLEVEL/EXTRAVERSION and the targets
  wb runs, out of tree (O=): ``tinyconfig``, ``olddefconfig``, ``bzImage``
  (its two C files compiled with $(CC) for real, so a patch that breaks them
  fails the build with a real compiler error; make's mtime rules decide what
  is rebuilt, as in Linux), single objects (``fs/splice.o``) with W=1, C=1
  (real sparse) and ARCH=i386 as Kbuild treats them, ``kernelrelease``;
- a Kconfig declaring every option of the project's configs/*.config, a few
  with ``depends on``; ``olddefconfig`` drops options Kconfig does not declare
  or whose dependencies are not =y, as Kconfig does;
- ``scripts/kconfig/merge_config.sh -m -O DIR BASE FRAGMENT...``;
- ``scripts/checkpatch.pl``: tests/fakes/checkpatch, replaying captured
  ``--strict`` reports; ``scripts/get_maintainer.pl``: tests/fakes/get_maintainer,
  replaying what the real one named for the series on Debian's 6.12;
- with ``create(..., kselftest=DIR)``, the kselftest headers kernel_tests/
  builds against (tools/testing/selftests/kselftest*.h), copied from DIR: a
  real kernel's, extracted by ``extract_kselftest_headers``.
Patches for it are made with git format-patch (``write_series``, ``series``).
"""

import os
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
FAKE_CHECKPATCH = Path(__file__).resolve().parent / "checkpatch"
FAKE_GET_MAINTAINER = Path(__file__).resolve().parent / "get_maintainer"
# What kernel_tests/ includes from a kernel tree (see its Makefile).
SELFTESTS = "tools/testing/selftests"
KSELFTEST_HEADERS = (f"{SELFTESTS}/kselftest.h", f"{SELFTESTS}/kselftest_harness.h")

VERSION, PATCHLEVEL, SUBLEVEL, EXTRAVERSION = "7", "0", "3", "-fake"
KERNEL_VERSION = f"{VERSION}.{PATCHLEVEL}.{SUBLEVEL}{EXTRAVERSION}"

# A fixed identity and date: the same tree and patches give the same hashes.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Fake Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "Fake Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}

# Some of the real dependencies: asking for one of these options without
# what it depends on gets it dropped by olddefconfig.
DEPENDS = {
    "LKDTM": "DEBUG_FS && RUNTIME_TESTING_MENU",
    "EXT4_FS": "BLOCK",
    "XFS_FS": "BLOCK",
    "BTRFS_FS": "BLOCK",
    "BLK_DEV_LOOP": "BLOCK && BLK_DEV",
    "9P_FS": "NET_9P",
    "INET": "NET",
}

MAKEFILE = f"""\
# SPDX-License-Identifier: GPL-2.0
VERSION = {VERSION}
PATCHLEVEL = {PATCHLEVEL}
SUBLEVEL = {SUBLEVEL}
EXTRAVERSION = {EXTRAVERSION}
NAME = Fake Penguin

# The workbench tests' fake kernel tree (tests/fakes/fakelinux.py): the make
# targets wb runs, out of tree (O=), compiling the tree's C files for real.
KERNELRELEASE = $(VERSION).$(PATCHLEVEL).$(SUBLEVEL)$(EXTRAVERSION)
srctree := $(CURDIR)
objtree := $(abspath $(or $(O),.))
SRCS := $(sort $(shell cd $(srctree) && find init fs -name '*.c'))
OBJS := $(SRCS:%.c=$(objtree)/%.o)
CONF := sh $(srctree)/scripts/kconfig/conf.sh

.PHONY: tinyconfig olddefconfig bzImage kernelrelease

kernelrelease:
\t@echo $(KERNELRELEASE)

tinyconfig olddefconfig:
\t@mkdir -p $(objtree)
\t@$(CONF) $@ $(srctree)/Kconfig $(objtree)/.config $(KERNELRELEASE)
\t@echo '#'; echo '# configuration written to .config'; echo '#'

$(objtree)/.config:
\t@echo '***'; echo '*** Configuration file ".config" not found!'; echo '***'; exit 1

# As Kbuild: W=1 adds warnings, C=1 runs sparse on each file it compiles,
# ARCH=i386 is a 32-bit build (CC is the caller's: a cross compiler for arm64).
EXTRA_WARNINGS := $(if $(W),-Wextra -Wmissing-prototypes -Wmissing-declarations)
ARCH_FLAGS := $(if $(filter i386,$(ARCH)),-m32)
CHECK ?= sparse

$(objtree)/%.o: $(srctree)/%.c $(objtree)/.config
\t@mkdir -p $(dir $@)
\t@echo '  CC      $*.o'
\t@$(CC) -Wall $(EXTRA_WARNINGS) $(ARCH_FLAGS) -O2 -c -o $@ $<
\t@$(if $(filter 1,$(C)),echo '  CHECK   $*.c'; $(CHECK) $(ARCH_FLAGS) $<)

# Single objects, as `make fs/splice.o` builds them in Linux.
SINGLE := $(filter %.o,$(MAKECMDGOALS))
.PHONY: $(SINGLE)
$(SINGLE): %.o: $(objtree)/%.o
\t@:

$(objtree)/vmlinux: $(OBJS)
\t@echo '  LD      vmlinux'
\t@$(LD) -r -o $@ $(OBJS)

$(objtree)/arch/x86/boot/bzImage: $(objtree)/vmlinux
\t@mkdir -p $(dir $@)
\t@echo '  BZIMAGE arch/x86/boot/bzImage'
\t@{{ printf 'Linux version %s (fake)\\n' $(KERNELRELEASE); cat $<; }} > $@
\t@echo 'Kernel: arch/x86/boot/bzImage is ready  (#1)'

bzImage: $(objtree)/arch/x86/boot/bzImage
"""

CONF_SH = """\
#!/bin/sh
# conf.sh TARGET KCONFIG CONFIG RELEASE: the fake tree's Kconfig targets.
# tinyconfig: every option off but what tinyconfig turns on; olddefconfig:
# CONFIG settled against KCONFIG (scripts/kconfig/olddefconfig.awk).
target=$1 kconfig=$2 config=$3 release=$4
case $target in
tinyconfig) echo CONFIG_SLUB_TINY=y > "$config.in" ;;
olddefconfig) cp "$config" "$config.in" 2>/dev/null || : > "$config.in" ;;
*) echo "conf.sh: unknown target $target" >&2; exit 2 ;;
esac
{
	printf '#\\n# Automatically generated file; DO NOT EDIT.\\n'
	printf '# Linux/x86 %s Kernel Configuration\\n#\\n' "$release"
	awk -f "$(dirname "$0")/olddefconfig.awk" "$kconfig" "$config.in"
} > "$config.new" && mv "$config.new" "$config" && rm -f "$config.in"
"""

OLDDEFCONFIG_AWK = """\
# olddefconfig of the fake Kconfig: ARGV[1] the Kconfig, ARGV[2] the config.
# Every declared option in Kconfig order; one Kconfig does not declare, or
# whose "depends on" (a list of A && B) is not =y, is dropped.
FNR == NR {
	if ($1 == "config") {
		sym = "CONFIG_" $2
		order[++n] = sym
	} else if ($1 == "depends" && $2 == "on") {
		d = $0
		sub(/^[ \\t]*depends on[ \\t]*/, "", d)
		gsub(/[ \\t]/, "", d)
		deps[sym] = d
	}
	next
}
/^CONFIG_[A-Za-z0-9_]+=/ {
	s = $0; sub(/=.*/, "", s)
	v = $0; sub(/^[^=]*=/, "", v)
	value[s] = v
}
END {
	for (i = 1; i <= n; i++) {
		s = order[i]
		v = (s in value) ? value[s] : "n"
		if (v != "n" && (s in deps)) {
			k = split(deps[s], need, "&&")
			for (j = 1; j <= k; j++)
				if (final["CONFIG_" need[j]] != "y")
					v = "n"
		}
		final[s] = v
		print (v == "n" ? "# " s " is not set" : s "=" v)
	}
}
"""

MERGE_CONFIG_SH = """\
#!/bin/sh
# merge_config.sh [-m] [-O DIR] BASE FRAGMENT...: the fake tree's stand-in for
# the kernel's script. Writes DIR/.config: BASE with each fragment merged in,
# a later value of an option replacing an earlier one (then the caller runs
# olddefconfig, as with the real script's -m).
out=.
while [ $# -gt 0 ]; do
	case $1 in
	-m) shift ;;
	-O) out=$2; shift 2 ;;
	-*) echo "merge_config.sh: unsupported option $1" >&2; exit 1 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: merge_config.sh [-m] [-O DIR] BASE FRAGMENT..." >&2; exit 1; }
for file; do
	[ -f "$file" ] || { echo "merge_config.sh: $file: no such file" >&2; exit 1; }
done
base=$1
shift
for file; do echo "Merging $file"; done
awk -f "$(dirname "$0")/merge.awk" "$base" "$@" > "$out/.config.merging" &&
	mv "$out/.config.merging" "$out/.config"
"""

MERGE_AWK = """\
# Options keep the place of their first appearance; a later file's value wins.
function set(s, line) {
	if (!(s in value))
		order[++n] = s
	value[s] = line
}
/^CONFIG_[A-Za-z0-9_]+=/ { s = $0; sub(/=.*/, "", s); set(s, $0); next }
/^# CONFIG_[A-Za-z0-9_]+ is not set$/ { set($2, $0); next }
END { for (i = 1; i <= n; i++) print value[order[i]] }
"""

MAIN_C = """\
// SPDX-License-Identifier: GPL-2.0
int start_kernel(void)
{
	return 0;
}
"""

SPLICE_C = """\
// SPDX-License-Identifier: GPL-2.0
/*
 * fs/splice.c of the fake kernel tree: a few lines for patches to change.
 */

#define SPLICE_F_MOVE		(0x01)
#define SPLICE_F_NONBLOCK	(0x02)
#define SPLICE_F_MORE		(0x04)
#define SPLICE_F_GIFT		(0x08)
#define SPLICE_F_ALL		(SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT)

int splice_flags_valid(unsigned int flags)
{
	return !(flags & ~SPLICE_F_ALL);
}

long splice_file_to_pipe(int in, int out, unsigned long len, unsigned int flags)
{
	if (!splice_flags_valid(flags))
		return -22;
	return in >= 0 && out >= 0 ? (long)len : -9;
}
"""


def config_symbols() -> list[str]:
    """Every option the project's fragments name, in order of appearance, and
    those wb precheck's configurations set (MODULES, for filesystems as modules)."""
    symbols: dict[str, None] = {"MODULES": None}
    for fragment in sorted(CONFIGS.glob("*.config")):
        for line in fragment.read_text().splitlines():
            line = line.strip().removeprefix("# ")
            if line.startswith("CONFIG_"):
                symbols[line.split("=")[0].split()[0].removeprefix("CONFIG_")] = None
    return list(symbols)


def kconfig_text() -> str:
    """Options without dependencies first, so that olddefconfig's one pass in
    Kconfig order sees each dependency settled before what depends on it."""
    symbols = config_symbols() + [s for s in DEPENDS if s not in config_symbols()]
    ordered = [s for s in symbols if s not in DEPENDS] + [s for s in symbols if s in DEPENDS]
    blocks = ['mainmenu "Fake Linux/$(ARCH) Kernel Configuration"\n']
    for symbol in ordered:
        depends = f"\tdepends on {DEPENDS[symbol]}\n" if symbol in DEPENDS else ""
        blocks.append(f"config {symbol}\n\tbool \"{symbol}\"\n{depends}")
    return "\n".join(blocks)


FILES: dict[str, str] = {
    "Makefile": MAKEFILE,
    "Kconfig": kconfig_text(),
    "scripts/kconfig/conf.sh": CONF_SH,
    "scripts/kconfig/olddefconfig.awk": OLDDEFCONFIG_AWK,
    "scripts/kconfig/merge_config.sh": MERGE_CONFIG_SH,
    "scripts/kconfig/merge.awk": MERGE_AWK,
    "init/main.c": MAIN_C,
    "fs/splice.c": SPLICE_C,
}
EXECUTABLE = {"scripts/kconfig/merge_config.sh"}


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True,
                          text=True, env=os.environ | GIT_ENV).stdout.strip()


def create(path: Path, kselftest: Path | None = None, release: str = KERNEL_VERSION) -> Path:
    """The fake tree as a git checkout at ``path`` (branch master, one commit);
    ``kselftest``: a directory with KSELFTEST_HEADERS to commit with it;
    ``release``: the kernel version its Makefile says (e.g. 6.12.117)."""
    version = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(.*)", release)
    assert version, release
    for name, text in FILES.items():
        file = path / name
        file.parent.mkdir(parents=True, exist_ok=True)
        if name == "Makefile":
            for field_name, value in zip(("VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"),
                                         version.groups()):
                text = re.sub(rf"^{field_name} = .*$", f"{field_name} = {value}", text, 1,
                              re.M)
        file.write_text(text)
        if name in EXECUTABLE:
            file.chmod(0o755)
    (path / "scripts/checkpatch.pl").symlink_to(FAKE_CHECKPATCH)
    (path / "scripts/get_maintainer.pl").symlink_to(FAKE_GET_MAINTAINER)
    if kselftest is not None:
        for name in KSELFTEST_HEADERS:
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kselftest / name, path / name)
    git(path, "init", "-q", "-b", "master")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", f"Linux {release}")
    return path


@dataclass(frozen=True)
class Patch:
    """One commit of a series: ``edits`` replace text in files of the tree
    (path -> (old, new); old "" makes a new file). ``made_on`` edits are
    committed first and not exported: the patch is made against another tree
    than the base, so it does not apply there."""
    subject: str
    edits: dict[str, tuple[str, str]]
    made_on: dict[str, tuple[str, str]] = field(default_factory=dict)


def _edit(tree: Path, edits: dict[str, tuple[str, str]]) -> None:
    for name, (old, new) in edits.items():
        file = tree / name
        if not old:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(new)
            continue
        text = file.read_text()
        assert old in text, f"{name} has no {old!r}"
        file.write_text(text.replace(old, new, 1))


def write_series(tree: Path, out: Path, patches: list[Patch],
                 kernel: str | None = f"{VERSION}.{PATCHLEVEL}") -> Path:
    """``out`` with a series file and one git format-patch per patch, made in
    a clone of ``tree``, so the tree itself is left as it is. The series
    file's header says it is for ``kernel`` (None: no kernel line); the
    default, the fake tree's release line."""
    clone = out.with_name(out.name + ".clone")
    subprocess.run(["git", "clone", "-q", str(tree), str(clone)], check=True)
    out.mkdir(parents=True, exist_ok=True)
    names = []
    for number, patch in enumerate(patches, 1):
        if patch.made_on:
            _edit(clone, patch.made_on)
            git(clone, "commit", "-q", "-am", "unrelated change, not in the series")
        _edit(clone, patch.edits)
        git(clone, "add", "-A")
        git(clone, "commit", "-q", "-m", patch.subject)
        name = git(clone, "format-patch", "-1", f"--start-number={number}", "-o", str(out))
        names.append(Path(name).name)
    header = "# the fake tree's series\n" + (f"# kernel: {kernel}\n" if kernel else "")
    (out / "series").write_text(header + "".join(f"{n}\n" for n in names))
    return out


def series(tree: Path, *patches: Patch, name: str = "patches",
           kernel: str | None = f"{VERSION}.{PATCHLEVEL}") -> Path:
    """A series directory next to ``tree``, made with git format-patch."""
    return write_series(tree, tree.parent / name, list(patches), kernel)


def extract_kselftest_headers(tarball: Path, out: Path, extra: tuple[str, ...] = ()) -> Path:
    """KSELFTEST_HEADERS (and the ``extra`` files) of a kernel source tarball
    (its one top directory stripped) in ``out``. tar stops reading at the last
    of them (--occurrence), a few seconds into Debian's 6.12 xz tarball."""
    with tarfile.open(tarball) as archive:
        top = archive.next().name.split("/")[0]  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-I", "xz -T0", "-f", str(tarball), "-C", str(out),
                    "--strip-components=1", "--occurrence=1",
                    *(f"{top}/{name}" for name in (*KSELFTEST_HEADERS, *extra))],
                   check=True, capture_output=True)
    # They must need nothing else of the tree: their own includes are system
    # headers but for each other.
    for name in KSELFTEST_HEADERS:
        local = re.findall(r'^#include "([^"]+)"', (out / name).read_text(), re.M)
        assert all(f"{SELFTESTS}/{h}" in KSELFTEST_HEADERS for h in local), (name, local)
    return out


# The series that applies, builds and passes: a new flag, then a use of it.
ADD_FLAG = Patch("splice: add SPLICE_F_STABLE", {"fs/splice.c": (
    "#define SPLICE_F_GIFT\t\t(0x08)\n",
    "#define SPLICE_F_GIFT\t\t(0x08)\n#define SPLICE_F_STABLE\t\t(0x10)\n")})
USE_FLAG = Patch("splice: accept SPLICE_F_STABLE", {"fs/splice.c": (
    "SPLICE_F_MORE | SPLICE_F_GIFT)", "SPLICE_F_MORE | SPLICE_F_GIFT | SPLICE_F_STABLE)")})
# Made on a tree whose splice_file_to_pipe() differs: its hunk does not apply.
STALE = Patch("splice: return -EBADF for closed descriptors", {"fs/splice.c": (
    "(long)len : -EBADF;", "(long)len : -EBADF - 0;")},
    made_on={"fs/splice.c": ("(long)len : -9;", "(long)len : -EBADF;")})
# A syntax error: gcc fails with "expected expression before ';' token".
BREAKS_BUILD = Patch("splice: break the build", {"fs/splice.c": (
    "int splice_flags_valid", "int wb_broken = ;\n\nint splice_flags_valid")})
# XFS_FS then depends on an option no fragment asks for: olddefconfig drops it.
DROPS_OPTION = Patch("xfs: depend on XFS_ONLINE_SCRUB", {"Kconfig": (
    "config XFS_FS\n\tbool \"XFS_FS\"\n\tdepends on BLOCK\n",
    "config XFS_FS\n\tbool \"XFS_FS\"\n\tdepends on BLOCK && XFS_ONLINE_SCRUB\n")})
# gcc -Wall: "unused variable 'wb_unused' [-Wunused-variable]" in init/main.c,
# which has no warning before it and no other patch here touches.
WARNS = Patch("init: prepare to count calls", {"init/main.c": (
    "int start_kernel(void)\n{\n", "int start_kernel(void)\n{\n\tint wb_unused;\n\n")})
# An added line with trailing whitespace: the fake checkpatch reports style
# problems (checkpatch-bad.txt). On top of WARNS the warning there moves a
# line down: the same warning, not a new one.
TRAILING_SPACE = Patch("init: describe start_kernel", {"init/main.c": (
    "// SPDX-License-Identifier: GPL-2.0\n",
    "// SPDX-License-Identifier: GPL-2.0\n/* The first C function the kernel runs. */ \n")})
