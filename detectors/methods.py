"""Names and default thresholds of the drift methods.

One table shared by the config validator (which rejects unknown names and
fills in default thresholds) and the evaluator (which runs the methods), so
a method cannot exist in one and not the other.

Every threshold applies to an *effect size*, never to a p-value: with large
windows any shift is significant, so a p-value alone would alarm on trivial
changes. Methods that also have a p-value need both to pass (see
``detectors.decision``).
"""

from __future__ import annotations

from typing import Final, NamedTuple


class Thresholds(NamedTuple):
    """Effect-size levels at which a signal is flagged ``warning`` or ``critical``."""

    warn: float
    critical: float


NUMERIC_METHODS: Final = ("psi", "jensen_shannon", "wasserstein", "ks")
"""Two-sample methods for numeric signals (features and numeric predictions)."""

CATEGORICAL_METHODS: Final = ("chi2", "psi", "jensen_shannon", "dominant_value")
"""Two-sample methods for categorical signals. ``dominant_value`` runs on the signals
whose reference has more categories than ``max_categories`` (``detectors.tail``)."""

QUALITY_METHODS: Final = ("missing_rate", "unseen_rate")
"""Data-quality methods run on every signal. ``unseen_rate`` is the share of
unseen categories (categorical) or of values outside the reference range
(numeric) in excess of the chance of one in data drawn like the reference."""

MULTIVARIATE_METHODS: Final = ("correlation", "mahalanobis")
"""Joint methods over a model's numeric features (``detectors.multivariate``)."""

ALL_METHODS: Final = tuple(
    dict.fromkeys(NUMERIC_METHODS + CATEGORICAL_METHODS + QUALITY_METHODS + MULTIVARIATE_METHODS)
)

P_VALUE_METHODS: Final = frozenset(
    {"ks", "chi2", "missing_rate", "unseen_rate", "correlation", "mahalanobis", "dominant_value"}
)
"""Methods whose result carries a p-value that must also be significant."""

DEFAULT_THRESHOLDS: Final[dict[str, Thresholds]] = {
    # Population stability index: 0.1 "moderate", 0.25 "major" (industry rule of thumb).
    "psi": Thresholds(0.1, 0.25),
    # Jensen-Shannon distance (base 2, in [0, 1]).
    "jensen_shannon": Thresholds(0.1, 0.2),
    # Wasserstein distance divided by the reference standard deviation.
    "wasserstein": Thresholds(0.1, 0.25),
    # Kolmogorov-Smirnov statistic D (largest CDF gap).
    "ks": Thresholds(0.1, 0.2),
    # Chi-square: the threshold applies to Cramér's V, the effect size.
    "chi2": Thresholds(0.1, 0.25),
    # Absolute rise of the missing rate over the reference's.
    "missing_rate": Thresholds(0.05, 0.2),
    # Share of unseen categories / out-of-range values in the window, less its no-drift chance.
    "unseen_rate": Thresholds(0.05, 0.2),
    # Share of the window of its heaviest value outside the reference's top categories,
    # less the most any such value held in the reference.
    "dominant_value": Thresholds(0.05, 0.2),
    # Largest absolute change of a pairwise (Gaussian rank) correlation between numeric
    # features, less its no-drift median at the window's size.
    "correlation": Thresholds(0.1, 0.2),
    # Mahalanobis distance between the window's and the reference's mean feature vectors,
    # in the reference's covariance (standard deviations, like Wasserstein's score).
    "mahalanobis": Thresholds(0.1, 0.25),
}
