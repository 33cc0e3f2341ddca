from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.kconfig import (Mismatch, check_fragments, declared_options, fragment_path,
                               parse_config)
from workbench.workspace import CONFIGS_DIR


def test_parse_config_reads_set_and_unset_options():
    text = "# comment\nCONFIG_A=y\nCONFIG_B=\"str\"\n# CONFIG_C is not set\nCONFIG_D=0x10\n"
    assert parse_config(text) == {"CONFIG_A": "y", "CONFIG_B": '"str"', "CONFIG_C": "n",
                                  "CONFIG_D": "0x10"}


def test_check_fragments_lists_each_dropped_option_with_asked_and_got():
    requested = {"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": "n", "CONFIG_D": "m"}
    final = {"CONFIG_A": "y", "CONFIG_D": "y"}
    assert check_fragments(requested, final) == [
        Mismatch("CONFIG_B", "y", "n"),
        Mismatch("CONFIG_D", "m", "y"),
    ]
    assert str(Mismatch("CONFIG_B", "y", "n")) == "CONFIG_B: asked y, got n"


def test_fragment_names_resolve_with_or_without_suffix():
    assert fragment_path("virtme") == CONFIGS_DIR / "virtme.config"
    assert fragment_path("net.config") == CONFIGS_DIR / "net.config"


def test_unknown_fragment_names_the_known_ones():
    with pytest.raises(WorkbenchError) as err:
        fragment_path("no-such-fragment")
    assert "unknown config fragment 'no-such-fragment'" in str(err.value)
    assert "virtme" in err.value.hint and "filesystems" in err.value.hint


def test_fragment_path_accepts_a_file(tmp_path: Path):
    frag = tmp_path / "extra.config"
    frag.write_text("CONFIG_X=y\n")
    assert fragment_path(str(frag)) == frag


def test_shipped_fragments_parse_and_ask_for_the_guest_essentials():
    virtme = parse_config((CONFIGS_DIR / "virtme.config").read_text())
    for option in ("CONFIG_ACPI", "CONFIG_9P_FS", "CONFIG_VIRTIO_CONSOLE",
                   "CONFIG_SERIAL_8250_CONSOLE", "CONFIG_VIRTIO_VSOCKETS"):
        assert virtme[option] == "y", option
    fs = parse_config((CONFIGS_DIR / "filesystems.config").read_text())
    assert {fs[o] for o in ("CONFIG_EXT4_FS", "CONFIG_XFS_FS", "CONFIG_BTRFS_FS",
                            "CONFIG_TMPFS", "CONFIG_BLK_DEV_LOOP")} == {"y"}


def test_declared_options_reads_every_kconfig_file_of_the_tree(tmp_path: Path):
    (tmp_path / "Kconfig").write_text('config SYSCTL\n\tbool "Sysctl"\nsource "fs/Kconfig"\n')
    (tmp_path / "fs").mkdir()
    (tmp_path / "fs" / "Kconfig").write_text("menuconfig EXT4_FS\n\ttristate\n"
                                             "  config XFS_FS\n# config NOT_ME\n")
    (tmp_path / "fs" / "Kconfig.binfmt").write_text("config BINFMT_ELF\n\tbool\n")
    assert declared_options(tmp_path) == {"CONFIG_SYSCTL", "CONFIG_EXT4_FS", "CONFIG_XFS_FS",
                                          "CONFIG_BINFMT_ELF"}


def test_declared_options_skips_git_metadata(tmp_path: Path):
    # CI lost a run when a detached `git gc --auto` removed .git/objects/47
    # while the walk was inside it: .git is not read at all.
    (tmp_path / "Kconfig").write_text("config SYSCTL\n")
    (tmp_path / ".git" / "objects" / "47").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "47" / "Kconfig").write_text("config FROM_GIT\n")
    assert declared_options(tmp_path) == {"CONFIG_SYSCTL"}
