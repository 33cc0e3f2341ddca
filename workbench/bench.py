"""``wb bench``: the performance suite on base and patched kernels, compared.

Each round boots base, then patched (A B A B: separate boots, interleaved so
that a drift of the host hits both), and runs ``kernel_tests/splice_perf`` on
every filesystem. The clock mode says what a second means:

- ``icount``: QEMU ``-icount shift=0,sleep=off``, one vCPU: guest time counts
  instructions. Deterministic; the default when KVM does not work. A sample's
  time is the benchmark process's CPU time (see ``sample_seconds``).
- ``kvm``: real wall clock under KVM; the default when KVM works.
- ``tcg``: wall clock under emulation, noise; only on request.

Every figure carries its mode; ratios only ever compare figures of one run,
hence of one mode.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from workbench import log, stats
from workbench.accel import Accel, Accelerator
from workbench.errors import WorkbenchError
from workbench.guest_tests import PlannedTest, run_plan
from workbench.status import Status

CLOCK_MODES = ("icount", "kvm", "tcg")
ICOUNT_OPTS = ("-icount", "shift=0,sleep=off")
METHODS = ("pread_write", "sendfile", "splice", "stable", "stable_copy", "memcpy")
ZERO_COPY_FS = ("ext4", "xfs", "btrfs")
MIB = 1 << 20


@dataclass(frozen=True)
class BenchPlan:
    filesystems: tuple[str, ...]
    sinks: tuple[str, ...]
    sizes: tuple[str, ...]  # splice_perf syntax: 4K, 64K, 1M, 16M
    reps: int  # repetitions per boot
    rounds: int  # A B rounds
    file_size: str

    def arguments(self, json_path: Path) -> str:
        return (f"--file-size {self.file_size} --sizes {','.join(self.sizes)} "
                f"--reps {self.reps} --sinks {','.join(self.sinks)} --json {json_path}")


# About 15 GiB moved per boot: roughly 40 minutes for the four boots under icount.
FULL = BenchPlan(("ext4", "xfs", "btrfs", "tmpfs"), ("tcp", "unix", "devnull", "file"),
                 ("4K", "64K", "1M", "16M"), reps=3, rounds=2, file_size="16M")
# For CI: every artefact, a fraction of the time.
QUICK = BenchPlan(("ext4", "tmpfs"), ("unix", "devnull"), ("4K", "64K"), reps=3, rounds=2,
                  file_size="4M")


def host_cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def clock_mode(requested: str | None, accel: Accel) -> str:
    if requested is None:
        return "kvm" if accel.name == "kvm" else "icount"
    if requested == "kvm" and accel.name != "kvm":
        raise WorkbenchError(f"clock mode kvm asked for, but {accel.reason}",
                             hint="use --clock icount (deterministic) on this machine")
    return requested


@dataclass(frozen=True)
class Target:
    """A ratio the series must reach (issue 5), checked from the run's own output."""
    name: str
    numerator: tuple[str, str]  # (kernel, method)
    denominator: tuple[str, str]
    floor: float
    min_size: int  # bytes: the target holds from this request size up
    filesystems: tuple[str, ...] | None = None  # None: all
    sinks: tuple[str, ...] | None = None


TARGETS = (
    Target("plain splice, patched/base", ("patched", "splice"), ("base", "splice"), 0.995, 0),
    # Sockets and files get a private copy of each stable buffer (series v2):
    # zero copy, which the target is about, is only left for /dev/null.
    Target("stable optimistic/plain splice", ("patched", "stable"), ("patched", "splice"), 0.99,
           64 << 10, ZERO_COPY_FS, sinks=("devnull",)),
    # Into a socket pread+write copies twice (to the buffer, into the skb) and
    # the stable copy path once; into /dev/null or a file they copy equally
    # often, so the comparison says nothing about the copy path there.
    Target("stable copy/pread+write", ("patched", "stable_copy"), ("patched", "pread_write"),
           1.4, 64 << 10, sinks=("tcp", "unix")),
)


@dataclass(frozen=True)
class Comparison:
    target: str
    fs: str
    sink: str
    size: int
    ratio: stats.Ratio
    floor: float
    applies: bool  # the target covers this size and filesystem

    @property
    def met(self) -> bool:
        return self.ratio.value >= self.floor


def boot_order(rounds: int, kernels: tuple[str, ...]) -> list[tuple[int, str]]:
    """A B A B: every round boots each kernel once, in the same order."""
    return [(r, k) for r in range(rounds) for k in kernels]


def run_rounds(images: dict[str, Path], program: Path, plan: BenchPlan, mode: str,
               out_dir: Path, accelerator: Accelerator, timeout: float,
               kernel_args: tuple[str, ...] = ()) -> list[dict]:
    """Boot each kernel ``plan.rounds`` times, interleaved; returns the samples."""
    samples = []
    if mode != "kvm":
        # QEMU's -icount runs under TCG only; a tcg clock is TCG by definition.
        accelerator = accelerator.pinned_to_tcg(f"clock mode {mode}")
    opts = ICOUNT_OPTS if mode == "icount" else ()
    cpus = 1 if mode == "icount" else 2
    for round_no, kernel in boot_order(plan.rounds, tuple(images)):
        image = images[kernel]
        boot_dir = out_dir / f"round{round_no + 1}-{kernel}"
        boot_dir.mkdir(parents=True, exist_ok=True)
        tests = [PlannedTest(f"splice_perf.{fs}", fs,
                             f"{program} {plan.arguments(boot_dir / f'perf-{fs}.json')}")
                 for fs in plan.filesystems]
        log.info(f"bench round {round_no + 1}/{plan.rounds}: {kernel} ({mode})")
        result = run_plan(tests, image, kernel, boot_dir, accelerator, timeout, qemu_opts=opts,
                          cpus=cpus, kernel_args=kernel_args)
        if mode == "kvm" and result.boot.accel.name != "kvm":
            raise WorkbenchError(f"bench boot of {kernel} (round {round_no + 1}) fell back "
                                 f"to TCG ({result.boot.accel.reason}): its wall clock would "
                                 "be emulation noise, not a kvm-clock sample",
                                 hint="run wb bench again: on this host boot it now uses the "
                                      "icount clock")
        if result.status is not Status.PASS:
            raise WorkbenchError(f"bench boot of {kernel} (round {round_no + 1}): "
                                 f"{result.status.value} {result.boot.reason}",
                                 hint=f"see {boot_dir / 'console.log'}; the samples of the "
                                      f"boots before are in {out_dir / 'samples.json'}",
                                 status=result.status)
        samples += _read_samples(boot_dir, kernel, round_no + 1, mode, plan)
        # Kept as they come, so a later failure loses nothing.
        (out_dir / "samples.json").write_text(json.dumps(samples) + "\n")
    return samples


def _read_samples(boot_dir: Path, kernel: str, round_no: int, mode: str,
                  plan: BenchPlan) -> list[dict]:
    out = []
    for fs in plan.filesystems:
        path = boot_dir / f"perf-{fs}.json"
        if not path.exists():
            raise WorkbenchError(f"{path} missing: splice_perf did not run on {fs}")
        record = json.loads(path.read_text())
        for result in record["results"]:
            for rep, sample in enumerate(result["samples"]):
                out.append({"kernel": kernel, "round": round_no, "rep": rep, "mode": mode,
                            "fs": fs, "sink": result["sink"], "method": result["method"],
                            "size": result["size"], "bytes": record["file_size"], **sample})
    return out


def sample_seconds(sample: dict) -> float:
    """The time a sample took. Under icount, the benchmark process's CPU time
    (all its threads, user + system): instruction-counted like the guest clock,
    but without the other guest activity that a single vCPU interleaves with
    it (a btrfs transaction commit tripled one repetition's elapsed time in a
    full run). Under kvm and tcg, elapsed wall time: the guest has two vCPUs
    and the real clock is the figure that counts there."""
    return sample["cpu_seconds"] if sample["mode"] == "icount" else sample["seconds"]


def time_base(mode: str) -> str:
    """What the seconds of ``mode`` are, for table and axis labels."""
    return "icount guest CPU time" if mode == "icount" else f"{mode} wall clock"


def throughput(samples: list[dict], **where: str | int) -> list[float]:
    """MiB per second for the samples matching ``where``."""
    return [s["bytes"] / MIB / sample_seconds(s) for s in samples
            if all(s[k] == v for k, v in where.items())]


def compare(samples: list[dict]) -> list[Comparison]:
    out = []
    cells = sorted({(s["fs"], s["sink"], s["size"]) for s in samples if s["sink"] != "none"})
    for target in TARGETS:
        for fs, sink, size in cells:
            num = throughput(samples, kernel=target.numerator[0], method=target.numerator[1],
                             fs=fs, sink=sink, size=size)
            den = throughput(samples, kernel=target.denominator[0],
                             method=target.denominator[1], fs=fs, sink=sink, size=size)
            if not num or not den:
                continue
            applies = (size >= target.min_size
                       and (target.filesystems is None or fs in target.filesystems)
                       and (target.sinks is None or sink in target.sinks))
            out.append(Comparison(target.name, fs, sink, size, stats.ratio(num, den),
                                  target.floor, applies))
    return out


def cost_per_request(samples: list[dict], fs: str, sink: str, size: int) -> float | None:
    """Extra guest nanoseconds per request of stable over plain splice (patched)."""
    plain = [s for s in samples if (s["kernel"], s["method"], s["fs"], s["sink"], s["size"])
             == ("patched", "splice", fs, sink, size)]
    stable = [s for s in samples if (s["kernel"], s["method"], s["fs"], s["sink"], s["size"])
              == ("patched", "stable", fs, sink, size)]
    if not plain or not stable:
        return None
    requests = plain[0]["bytes"] / size
    per = [stats.estimate([sample_seconds(s) for s in group]).median
           for group in (stable, plain)]
    return (per[0] - per[1]) / requests * 1e9


def _size(n: int) -> str:
    for unit, shift in (("M", 20), ("K", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def figures(samples: list[dict]) -> list[dict]:
    """Per kernel, filesystem, sink, method and request size: median throughput
    (with its interval), CPU seconds per GiB and system calls per MiB."""
    groups: dict[tuple, list[dict]] = {}
    for s in samples:
        groups.setdefault((s["kernel"], s["fs"], s["sink"], s["method"], s["size"]), []).append(s)
    rows = []
    for (kernel, fs, sink, method, size), group in sorted(groups.items()):
        rate = stats.estimate([s["bytes"] / MIB / sample_seconds(s) for s in group])
        cpu = stats.estimate([s["cpu_seconds"] / (s["bytes"] / (1 << 30)) for s in group])
        calls = stats.estimate([s["syscalls"] / (s["bytes"] / MIB) for s in group])
        rows.append({"kernel": kernel, "fs": fs, "sink": sink, "method": method, "size": size,
                     "mib_s": rate.median, "mib_s_low": rate.low, "mib_s_high": rate.high,
                     "spread": rate.spread, "n": rate.n, "cpu_s_per_gib": cpu.median,
                     "syscalls_per_mib": calls.median})
    return rows


def markdown(comparisons: list[Comparison], samples: list[dict], mode: str,
             context: dict) -> str:
    lines = [f"Clock: **{mode}**" + {"tcg": " (wall clock under emulation: noise)",
                                     "icount": " (CPU time of the benchmark process, in "
                                               "instruction-counted guest time)"}.get(mode, ""),
             "; ".join(f"{k}: {v}" for k, v in context.items()), "",
             "| comparison | fs | sink | request | ratio | 95% interval | verdict | target |",
             "|---|---|---|---|---|---|---|---|"]
    for c in comparisons:
        target = (("met" if c.met else "MISSED") + f" (>= {c.floor})") if c.applies else "-"
        lines.append(f"| {c.target} | {c.fs} | {c.sink} | {_size(c.size)} | "
                     f"{c.ratio.value:.3f} | {c.ratio.low:.3f} - {c.ratio.high:.3f} | "
                     f"{c.ratio.verdict} | {target} |")
    costs = []
    for fs in sorted({s["fs"] for s in samples} & set(ZERO_COPY_FS)):
        for sink in sorted({s["sink"] for s in samples if s["fs"] == fs and s["sink"] != "none"}):
            cost = cost_per_request(samples, fs, sink, 4096)
            if cost is not None:
                costs.append(f"| {fs} | {sink} | {cost:.0f} |")
    if costs:
        lines += ["", "Cost of SPLICE_F_STABLE per 4 KiB request (patched kernel, guest ns):",
                  "", "| fs | sink | ns |", "|---|---|---|", *costs]
    lines += ["", f"Figures (medians over boots and repetitions; {time_base(mode)}):", "",
              "| kernel | fs | sink | method | request | MiB/s | 95% interval | spread | "
              "CPU s/GiB | syscalls/MiB |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['kernel']} | {r['fs']} | {r['sink']} | {r['method']} | {_size(r['size'])} "
              f"| {r['mib_s']:.1f} | {r['mib_s_low']:.1f} - {r['mib_s_high']:.1f} | "
              f"{100 * r['spread']:.1f}% | {r['cpu_s_per_gib']:.3f} | "
              f"{r['syscalls_per_mib']:.1f} |" for r in figures(samples)]
    return "\n".join(lines) + "\n"


def plot(samples: list[dict], comparisons: list[Comparison], out_dir: Path, mode: str,
         context: dict) -> list[Path]:
    """Throughput vs request size per method and filesystem; ratio bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    caption = "; ".join(f"{k} {v}" for k, v in context.items())
    paths = []
    for fs in sorted({s["fs"] for s in samples}):
        sinks = sorted({s["sink"] for s in samples if s["fs"] == fs and s["sink"] != "none"})
        fig, axes = plt.subplots(1, len(sinks), figsize=(5 * len(sinks), 4), squeeze=False)
        for ax, sink in zip(axes[0], sinks):
            for kernel in ("base", "patched"):
                for method in METHODS:
                    sizes = sorted({s["size"] for s in samples if s["fs"] == fs})
                    points = [(size, stats.estimate(v).median) for size in sizes
                              if (v := throughput(samples, kernel=kernel, method=method, fs=fs,
                                                  size=size,
                                                  sink="none" if method == "memcpy" else sink))]
                    if points and not (method == "memcpy" and kernel == "base"):
                        ax.plot(*zip(*points), marker="o", label=f"{method} ({kernel})",
                                linestyle="-" if kernel == "patched" else ":")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{fs} -> {sink}")
            ax.set_xlabel("request size (bytes)")
            ax.set_ylabel(f"MiB/s ({time_base(mode)})")
            ax.legend(fontsize=6)
        fig.suptitle(caption, fontsize=7)
        fig.tight_layout()
        path = out_dir / f"throughput-{fs}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    shown = [c for c in comparisons if c.applies]
    if shown:
        fig, ax = plt.subplots(figsize=(10, max(3, 0.25 * len(shown))))
        labels = [f"{c.target}: {c.fs} {c.sink} {_size(c.size)}" for c in shown]
        values = [c.ratio.value for c in shown]
        errors = [[c.ratio.value - c.ratio.low for c in shown],
                  [c.ratio.high - c.ratio.value for c in shown]]
        ax.barh(range(len(shown)), values, xerr=errors,
                color=["tab:green" if c.met else "tab:red" for c in shown])
        for y, c in enumerate(shown):
            ax.plot([c.floor, c.floor], [y - 0.4, y + 0.4], color="black")
        ax.set_yticks(range(len(shown)), labels, fontsize=6)
        ax.set_xlabel(f"ratio of medians, 95% interval ({mode}); black: target")
        fig.suptitle(caption, fontsize=7)
        fig.tight_layout()
        path = out_dir / "ratios.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)
    return paths


def write_report(samples: list[dict], out_dir: Path, mode: str, context: dict
                 ) -> tuple[Path, Path, list[Path], list[Comparison]]:
    comparisons = compare(samples)
    md = out_dir / "bench.md"
    md.write_text(markdown(comparisons, samples, mode, context))
    js = out_dir / "bench.json"
    js.write_text(json.dumps({"mode": mode, "context": context, "samples": samples,
                              "figures": figures(samples),
                              "comparisons": [asdict(c) | {"met": c.met} for c in comparisons]},
                             indent=1) + "\n")
    return md, js, plot(samples, comparisons, out_dir, mode, context), comparisons
