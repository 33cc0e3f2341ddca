"""The integrity matrix from real runs of kernel_tests/splice_integrity
(tests/data/golden/integrity-{base,patched}.ktap, same seed, captured by
tests/capture_golden.py) and what it must show: the problem on every kernel,
SPLICE_F_STABLE holding on the patched one."""

import json
from pathlib import Path

import pytest
from junitparser import JUnitXml

from workbench import integrity
from workbench.ktap import parse
from workbench.results import write_results

from conftest import DATA

PAGE_CACHE_FS = ("tmpfs", "ext4", "xfs", "btrfs")
ZERO_COPY_FS = ("ext4", "xfs", "btrfs")  # opt in to the validated zero-copy path
# Mutations that change the cached pages the pipe holds (an O_DIRECT write or
# a punched hole may drop them instead).
IN_PLACE = ("write", "pwrite_partial", "truncate", "mmap_before", "mmap_after",
            "other_process")
SEEING = ("read", "file", "tcp", "unix")  # consumers whose bytes can be looked at


@pytest.fixture(scope="module")
def trees():
    return {v: parse((DATA / "golden" / f"integrity-{v}.ktap").read_text().splitlines(), v)
            for v in ("base", "patched")}


@pytest.fixture(scope="module")
def matrices(trees):
    return {v: integrity.collect(t) for v, t in trees.items()}


def cells(matrix, **where):
    """The cells that ran (not skipped) and match ``where`` (field -> allowed values)."""
    found = [c for c in matrix.cells if c.result != "SKIP"
             and all(getattr(c, k) in v for k, v in where.items())]
    assert found, where
    return found


def test_only_what_9p_cannot_do_is_skipped_on_the_patched_kernel(matrices):
    skipped = {(c.fs, c.reason.split(":")[0]) for c in matrices["patched"].cells
               if c.result == "SKIP"}
    assert skipped == {("9p", "no hole punching on 9p"), ("9p", "no shared writable mmap on 9p")}


def test_every_cell_of_the_matrix_has_a_result(matrices):
    for matrix in matrices.values():
        names = {c.name for c in matrix.cells}
        # 5 filesystems x 2 modes x 5 consumers x 8 mutations x 3 timings
        assert len(names) == len(matrix.cells) == 1200
        assert {(c.fs, c.mode, c.kind) for c in matrix.checks} == {
            (fs, mode, kind) for fs in (*PAGE_CACHE_FS, "9p") for mode in ("plain", "stable")
            for kind in ("differential", "stress")}
        assert matrix.failed() == []


def test_plain_splice_reproduces_the_problem_on_both_kernels(matrices):
    for matrix in matrices.values():
        for cell in cells(matrix, mode=["plain"], fs=PAGE_CACHE_FS, consumer=SEEING,
                          mutation=IN_PLACE, timing=["before_confirm", "during"]):
            assert cell.result == "PASS" and set(cell.observed) <= {"NEW", "TORN"}, cell
        # The pages stay with the socket after the confirm: changes show there.
        for cell in cells(matrix, mode=["plain"], fs=PAGE_CACHE_FS, consumer=["tcp", "unix"],
                          mutation=IN_PLACE, timing=["after_confirm"]):
            assert set(cell.observed) <= {"NEW", "TORN"}, cell
        # 9p without a file cache copies at splice time.
        for cell in cells(matrix, mode=["plain"], fs=["9p"], consumer=SEEING,
                          mutation=["write", "pwrite_partial", "truncate"]):
            assert cell.observed == {"OLD": cell.observed.get("OLD", 0)} and cell.observed, cell


def test_base_kernel_skips_every_stable_cell_with_the_reason(matrices):
    stable = [c for c in matrices["base"].cells if c.mode == "stable"]
    assert len(stable) == 600
    for cell in stable:
        assert cell.result == "SKIP" and cell.reason == "SPLICE_F_STABLE not supported", cell
    assert {c.result for c in matrices["base"].checks if c.mode == "stable"} == {"SKIP"}


def test_stable_holds_on_the_patched_kernel(matrices):
    patched = matrices["patched"]
    for cell in cells(patched, mode=["stable"], timing=["before_confirm", "during"]):
        assert cell.result == "PASS", cell
        assert not cell.observed.keys() & {"NEW", "TORN", "SHORT"}, cell
    # The zero-copy filesystems detect the change...
    for cell in cells(patched, mode=["stable"], fs=ZERO_COPY_FS, mutation=IN_PLACE[:3],
                      timing=["before_confirm", "during"]):
        assert cell.observed == {"ESTALE": 1}, cell
    # ...except where the file was mapped writable at splice time: copied.
    for cell in cells(patched, mode=["stable"], fs=ZERO_COPY_FS, consumer=SEEING,
                      mutation=["mmap_before"], timing=["before_confirm", "during"]):
        assert cell.observed == {"OLD": 1}, cell
    # tmpfs and 9p copy at splice time.
    for cell in cells(patched, mode=["stable"], fs=["tmpfs", "9p"], consumer=SEEING):
        assert cell.observed == {"OLD": cell.observed["OLD"]}, cell
    assert {c.result for c in patched.checks} == {"PASS"}


def test_the_window_after_the_confirm_is_reported_not_hidden(matrices):
    window = [c for c in matrices["patched"].cells if c.mode == "stable" and
              c.changed_after_confirm]
    assert window and {c.fs for c in window} <= set(ZERO_COPY_FS)
    table = integrity.markdown(matrices)
    assert "socket receiver saw data changed after the confirm" in table
    # After the confirm, read(2) and splice to a file already copied the data.
    for cell in cells(matrices["patched"], consumer=["read", "file"], timing=["after_confirm"]):
        assert cell.observed == {"OLD": 1}, cell


def test_markdown_has_a_row_per_kernel_filesystem_and_mode(matrices):
    rows = [line for line in integrity.markdown(matrices).splitlines()
            if line.startswith(("| base", "| patched"))]
    assert len(rows) == 2 * 5 * 2
    base_stable = next(r for r in rows if r.startswith("| base | ext4 | stable"))
    assert "SKIP 40 | SKIP 40 | SKIP 40 | SKIP | SKIP | 0 |" in base_stable
    patched_stable = next(r for r in rows if r.startswith("| patched | ext4 | stable"))
    assert "ESTALE" in patched_stable and "| PASS | PASS | 0 |" in patched_stable


def test_junit_has_one_named_testcase_per_cell(trees, tmp_path: Path):
    junit, js = write_results(trees["patched"], "patched", tmp_path)
    xml = JUnitXml.fromfile(str(junit))
    suite = next(s for s in xml if s.name == "splice_integrity.ext4")
    names = {c.name for c in suite}
    assert "ext4.stable.tcp.pwrite_partial.before_confirm" in names
    assert len(names) == 244
    path = integrity.write_matrix(integrity.collect(trees["patched"]), tmp_path / "m.json")
    record = json.loads(path.read_text())
    cell = next(c for c in record["cells"]
                if c["name"] == "ext4.stable.tcp.pwrite_partial.before_confirm")
    assert cell["observed"] == {"ESTALE": 1} and cell["result"] == "PASS"


@pytest.mark.parametrize("reason, observed", [
    ("observed ESTALE", {"ESTALE": 1}),
    ("observed OLD 2/4 NEW 2/4", {"OLD": 2, "NEW": 2}),
    ("observed NEW, expected OLD|ESTALE: recovery after ESTALE at 0", {"NEW": 1}),
    ("SPLICE_F_STABLE not supported", {}),
])
def test_parse_observed(reason, observed):
    assert integrity.parse_observed(reason) == observed
