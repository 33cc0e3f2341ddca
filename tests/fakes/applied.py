"""A work directory whose tree carries a series, set up by the real `wb tree
--tree` and `wb apply` on the fake kernel tree (fakelinux): the tree, base,
commits and head that run records name, without a kernel build or boot.
Tests that read runs (wb kcidb, wb b4-check) make up the records around it
(test_evidence.make_run)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakes import fakelinux
from fakes.fakelinux import Patch
from fakes.wb import Workbench
from workbench.workspace import Workspace


@dataclass(frozen=True)
class Applied:
    workbench: Workbench
    checkout: Path  # the user's kernel checkout (`wb tree --tree`)
    patches: Path  # the series directory `wb apply --patches` applied
    apply: dict[str, Any]  # the apply stage of its run.json

    @property
    def ws(self) -> Workspace:
        return Workspace(self.workbench.workdir)

    @property
    def tree(self) -> Path:
        return self.ws.tree

    @property
    def commits(self) -> list[str]:
        return self.apply["commits"]

    @property
    def head(self) -> str:
        return self.apply["head"]

    @property
    def base(self) -> str:
        return fakelinux.git(self.tree, "rev-parse", "wb/base")

    def files(self) -> list[Path]:
        return [self.patches / name for name in self.apply["patches"]]

    def reapply(self, *patches: Patch, name: str) -> str:
        """Apply another series (``patches`` in a directory ``name`` next to
        the checkout); returns its head."""
        other = fakelinux.series(self.checkout, *patches, name=name)
        result = self.workbench.wb("apply", "--patches", str(other))
        assert result.status == 0, result.output
        return result.record["stages"]["apply"]["head"]


def applied(root: Path, *patches: Patch) -> Applied:
    checkout = fakelinux.create(root / "src" / "linux")
    directory = fakelinux.series(checkout, *patches)
    workbench = Workbench(root)
    tree = workbench.wb("tree", "--tree", str(checkout))
    assert tree.status == 0, tree.output
    result = workbench.wb("apply", "--patches", str(directory))
    assert result.status == 0, result.output
    return Applied(workbench, checkout, directory, result.record["stages"]["apply"])
