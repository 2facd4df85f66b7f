"""Champion and challenger: one window's two versions compared with each other.

Two versions of a model live at once (a canary, a shadow) should see the same traffic
and, if the challenger is to replace the champion, predict alike on it. Both are counted
on the champion's reference bins over the same event-time window, so the question "do
they differ?" is the two-sample question drift already asks, with the champion's window
in the place of the reference: :func:`window_as_reference` makes that window a reference
profile with the same bins and slots (so the challenger's counts, laid out by the
champion's reference, fit it unchanged), and :func:`compare_versions` judges the
challenger's counts against it with :func:`detectors.evaluate.evaluate_parts`: KS,
chi-square, PSI, Jensen-Shannon, Wasserstein and the missing rate, one family of tests
under the model's correction.

Methods that judge a window against what a *reference* could hold (``unseen_rate``,
``dominant_value``: values the reference never showed) and the joint ones (which need the
reference's covariance) do not compare two windows; they are left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

from detectors.evaluate import DecisionSettings, SignalResult, WindowPart, evaluate_parts
from detectors.profile import CategoricalProfile, SignalProfile
from detectors.window import CategoricalSlots, NumericSlots, WindowCounts, WindowLayout

UNCOMPARED_METHODS = frozenset({"dominant_value", "unseen_rate"})
"""Methods that judge a window against what a reference could hold, not two windows."""


def comparison_name(challenger: str, champion: str) -> str:
    """How a comparison is named where a segment would be (results, alerts, window fields):
    ``4 vs 3``. A segment's name always holds ``=`` (``region=eu``) and a compared version
    may not, so the two never meet."""
    return f"{challenger} vs {champion}"


def is_comparison(part: str | None) -> bool:
    """Whether a result's part (``SignalResult.segment``) is a comparison of versions."""
    return part is not None and "=" not in part


def window_as_reference(layout: WindowLayout, counts: WindowCounts) -> WindowLayout:
    """The champion's window as a reference profile, laid out like ``layout``'s: the same
    bins, slots, sketches and positions, with the window's counts, sums and missing values.

    Bin edges, coarse bins, range and scale stay the reference's: they say where values
    are counted, which must not change, and the Wasserstein unit."""
    signals: list[SignalProfile] = []
    for where in layout.signals.values():
        ints = counts.ints
        if isinstance(where, NumericSlots):
            signals.append(
                replace(
                    where.profile,
                    counts=ints[where.bins].copy(),
                    sums=counts.floats[where.sums].copy(),
                    missing=int(ints[where.missing]),
                )
            )
        else:
            signals.append(_categorical(where, counts))
    profile = layout.profile
    window = dataclasses.replace(
        profile,
        id=f"{profile.id}:window",
        events=counts.events,
        signals=tuple(signals),
        quality=None,
        joint=None,
        estimator=None,
        segments=(),
    )
    return WindowLayout(window)


def _categorical(where: CategoricalSlots, counts: WindowCounts) -> CategoricalProfile:
    profile = where.profile
    return CategoricalProfile(
        name=profile.name,
        role=profile.role,
        categories=profile.categories,
        other_categories=profile.other_categories,
        counts=counts.ints[where.slots].copy(),
        missing=int(counts.ints[where.missing]),
        sketch_width=profile.sketch_width,
        sketch_depth=profile.sketch_depth,
    )


def comparison_settings(settings: DecisionSettings) -> DecisionSettings:
    """The model's settings with only the methods that compare two windows."""
    return replace(
        settings,
        categorical_methods=tuple(
            m for m in settings.categorical_methods if m not in UNCOMPARED_METHODS
        ),
        quality_methods=tuple(m for m in settings.quality_methods if m not in UNCOMPARED_METHODS),
        multivariate_methods=(),
    )


def compare_versions(
    layout: WindowLayout,
    champion: WindowCounts,
    challenger: WindowCounts,
    name: str,
    settings: DecisionSettings,
) -> tuple[SignalResult, ...]:
    """The challenger's window judged against the champion's, both counted in ``layout``
    (the champion's reference's): one result per signal and method, ``segment`` ``name``,
    corrected for the tests run here. Neither side judged below ``min_events``."""
    reference = window_as_reference(layout, champion)
    results = evaluate_parts(
        [WindowPart(reference, challenger, name)], comparison_settings(settings)
    )
    if champion.events >= settings.min_events:
        return results
    return tuple(replace(r, drifted=False, severity="insufficient") for r in results)
