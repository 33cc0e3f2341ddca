"""Statistics for benchmark samples: medians with bootstrap confidence
intervals, ratios of medians, and the verdict a reviewer can trust.

Two series differ measurably only when their medians' intervals do not
overlap; otherwise the verdict is "no measurable difference", whatever the
point estimate of the ratio says.
"""

from dataclasses import dataclass
from collections.abc import Callable, Sequence
from typing import Any

# numpy and scipy are imported where they are used: importing scipy.stats
# costs most of a second, which every `wb` command would pay otherwise.

CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 20261122  # fixed: the same samples always give the same intervals
NO_DIFFERENCE = "no measurable difference"


@dataclass(frozen=True)
class Estimate:
    median: float
    low: float  # confidence interval of the median
    high: float
    n: int
    spread: float  # (max - min) / median

    def overlaps(self, other: "Estimate") -> bool:
        return self.low <= other.high and other.low <= self.high


@dataclass(frozen=True)
class Ratio:
    value: float  # median(numerator) / median(denominator)
    low: float
    high: float
    verdict: str  # "higher", "lower" or NO_DIFFERENCE


def _interval(samples: tuple[Any, ...],
              statistic: Callable[..., Any]) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(*samples, axis)``."""
    import numpy as np
    from scipy.stats import bootstrap

    if any(len(set(s)) < 2 for s in samples):
        value = float(statistic(*samples, axis=-1))
        return value, value
    result = bootstrap(samples, statistic, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                       method="percentile", vectorized=True, paired=False,
                       random_state=np.random.default_rng(SEED))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def estimate(samples: Sequence[float]) -> Estimate:
    if not samples:
        raise ValueError("no samples")
    import numpy as np

    values = np.asarray(samples, dtype=float)
    mid = float(np.median(values))
    low, high = _interval((values,), lambda x, axis: np.median(x, axis=axis))
    spread = float((values.max() - values.min()) / mid) if mid else 0.0
    return Estimate(mid, low, high, len(values), spread)


def ratio(numerator: Sequence[float], denominator: Sequence[float]) -> Ratio:
    """The ratio of medians with a bootstrap interval (the two series resampled
    independently) and the verdict from the overlap of their own intervals."""
    import numpy as np

    num, den = estimate(numerator), estimate(denominator)
    value = num.median / den.median
    low, high = _interval((np.asarray(numerator, float), np.asarray(denominator, float)),
                          lambda a, b, axis: np.median(a, axis=axis) / np.median(b, axis=axis))
    if num.overlaps(den):
        verdict = NO_DIFFERENCE
    else:
        verdict = "higher" if value > 1 else "lower"
    return Ratio(value, min(low, value), max(high, value), verdict)
