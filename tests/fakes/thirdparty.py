"""Stand-ins for liburing and xfstests trees: each build step the
third-party suite runs appends its name to ``steps`` in the build root, and
builds nothing."""

from pathlib import Path


def write_script(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def fake_liburing(root: Path) -> Path:
    """configure, make -C src and make -C test X.t as liburing has them; each
    step appends its name to ../steps (outside the tree: the build root)."""
    tree = root / "liburing"
    (tree / "test").mkdir(parents=True)
    (tree / "src").mkdir()
    (tree / "test/splice.c").write_text("/* upstream's test */\n")
    write_script(tree / "configure", "echo configure >> ../steps\n")
    (tree / "src/Makefile").write_text("all:\n\techo src >> ../../steps\n")
    (tree / "test/Makefile").write_text(
        "%.t:\n\techo $@ >> ../../steps\n\tprintf '#!/bin/sh\\nexit 77\\n' > $@\n\tchmod +x $@\n")
    return tree


def fake_xfstests(root: Path) -> Path:
    tree = root / "xfstests"
    for sub, targets in (("lib", ["default"]), ("ltp", ["fsstress"]),
                         ("src", ["splice-test", "min_dio_alignment"])):
        (tree / sub).mkdir(parents=True)
        (tree / sub / "Makefile").write_text("".join(
            f"{target}:\n\techo {sub}/{target} >> ../../steps\n" for target in targets))
    (tree / "ltp/fsstress.c").write_text("")
    (tree / "Makefile").write_text(
        "configure:\n\tprintf '#!/bin/sh\\necho configure >> ../steps\\n' > configure\n"
        "\tchmod +x configure\n")
    return tree
