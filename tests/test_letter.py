"""The plain-text cover letter: width, summaries and the claims' tests, on
KTAP and bench samples recorded from real runs (tests/data/golden)."""

import json

from conftest import DATA
from workbench import bench, ktap, letter

GOLDEN = DATA / "golden"


def tree(name: str) -> ktap.TestCase:
    return ktap.parse((GOLDEN / f"{name}.ktap").read_text().splitlines(), name=name)


def test_lines_wider_than_75_columns_but_unwrappable_links():
    text = "x" * 75 + "\n" + "y " * 38 + "\nLink: https://lore.kernel.org/r/" + "z" * 60
    assert letter.too_wide(text) == ["y " * 38]


def test_claim_references_may_wrap_and_name_the_kernel():
    body = ("A claim.  [test: splice_integrity.*/\n   *.stable.*, *stable_splice.*/stable.\n"
            "   truncate]\nAnother. [test base: a/b]\n")
    refs = letter.claim_refs(body)
    assert [(r.variant, r.pattern, r.line) for r in refs] == [
        ("patched", "splice_integrity.*/*.stable.*", 1),
        ("patched", "*stable_splice.*/stable.truncate", 1), ("base", "a/b", 4)]


def test_bullets_and_paragraphs_of_claim_sections_need_a_test():
    body = ("Semantics\n---------\n - Tested. [test: a/*]\n - Untested, over\n   two lines.\n"
            "\nA paragraph\nwithout one.\n\nLimits\n------\n - Not a claim section.\n")
    assert letter.unreferenced_claims(body) == ["- Untested, over two lines.",
                                                "A paragraph without one."]


def test_claims_pass_fail_and_match_nothing_on_recorded_results():
    trees = {"base": tree("integrity-base"), "patched": tree("integrity-patched")}
    refs = letter.claim_refs("[test: splice_integrity.ext4/ext4.stable.tcp.*] "
                             "[test: splice_integrity.*/*.stable.nothing_like_this] "
                             "[test base: splice_integrity.xfs/xfs.stable.*]")
    ok, nothing, skipped = letter.check_claims(refs, trees)
    assert ok.passed == 24 and not ok.failed and ok.problem == ""
    assert "no test of the patched kernel matches" in nothing.problem
    # The base kernel has no flag: its stable cells skip, which shows nothing.
    assert skipped.skipped > 0 and "that passed" in skipped.problem
    # A failed test blocks the claim.
    failed = trees["patched"].subtests[1].subtests[0]
    failed.result = ktap.Result.FAIL
    again = letter.check_claims(letter.claim_refs("[test: splice_integrity.ext4/*]"), trees)
    assert again[0].failed == (f"splice_integrity.ext4/{failed.name}",)
    assert "1 of its tests failed on patched" in again[0].problem


def test_results_and_stable_summaries_are_narrow_tables():
    trees = {"base": tree("integrity-base"), "patched": tree("integrity-patched")}
    text = letter.results_summary(trees)
    assert letter.too_wide(text) == []
    rows = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert rows["ext4"][1] == "244/0/0" and set(rows) == {"tmpfs", "ext4", "xfs", "btrfs", "9p"}
    stable = letter.stable_summary(trees["patched"])
    assert "  ext4: 120 cells, 0 failed; observed OLD" in stable


def test_perf_summary_counts_the_cells_each_target_covers():
    recorded = json.loads((GOLDEN / "bench-quick.json").read_text())
    comparisons = bench.compare(recorded["samples"])
    data = {"mode": "icount", "comparisons": [
        {**c.__dict__, "ratio": c.ratio.__dict__, "met": c.met} for c in comparisons]}
    text = letter.perf_summary(data)
    assert letter.too_wide(text) == []
    covered = [c for c in comparisons if c.applies and c.target == bench.TARGETS[0].name]
    met = sum(c.met for c in covered)
    assert f"{bench.TARGETS[0].name} (target >= 0.995): {met} of {len(covered)} cells met" \
        in " ".join(text.split())
