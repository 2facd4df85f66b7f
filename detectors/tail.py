"""Tests of a categorical signal that stay valid with a long tail of rare and new values.

A categorical signal's window counts are its top reference categories, ``other`` (the
reference's rarer categories) and ``unseen`` (values it never saw): the *tail* is the
last two. A high-cardinality feature draws new values all the time, and its profile
remembers only some of its rare categories, so the window's ``other`` holds less of the
tail than the reference's did and ``unseen`` the rest. So the distribution tests compare
:func:`tail_table`: the top categories and the tail as one cell, rare cells pooled.

Pooling hides what happens inside the tail: one value taking a fifth of the traffic (a
bot, a broken client) moves the tail cell by a fifth at most. :func:`dominant_value`
tests the heaviest named tail value of the window directly: no value outside the top
``K`` categories had more than the ``K``-th category's share ``p0`` of the reference, so
a binomial test asks whether the named value's count could come from a share of at most
``p0`` (union-bounded over the ``m = tail share / p0`` values that could hold that much).

Pure computation: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import special

from detectors import stats
from detectors.profile import CategoricalProfile
from detectors.sketch import fingerprints, is_cut, sketch_estimates

NAME_SHARE = 0.01
"""A tail value is named in a result when its named count (``at_least``) is at least this
share of the window."""

NAMED = 3
"""At most this many tail values are named in a result."""


@dataclass(frozen=True, slots=True)
class NamedValue:
    """A heavy tail value of a window, by name."""

    value: str
    count: int
    """Estimated count (the sketch's, never below the true count; else ``at_least``)."""
    at_least: int
    """Sum of the counts that named it in the window's batches: never above the true count."""
    share: float
    """``count`` over the window's events."""
    unseen: bool
    """Not a category of the reference (False: one of its rarer, ``other``, categories)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "count": self.count,
            "at_least": self.at_least,
            "share": self.share,
            "unseen": self.unseen,
        }


def tail_table(ref_slots: NDArray[np.float64], win_slots: NDArray[np.int64]) -> NDArray[np.float64]:
    """The 2 x k table a high-cardinality signal is tested on: its top categories and its
    tail (``other`` + ``unseen``) as one cell, rare cells pooled as for any categorical
    signal (:func:`detectors.stats.pooled_table`).

    The window counts as ``other`` only the reference categories the profile remembers,
    and the rest of the tail as ``unseen``; a value drawn like the reference falls in one
    or the other with exactly the reference's tail share, so the two are tested as one.
    """
    ref = np.append(ref_slots[:-2], ref_slots[-2] + ref_slots[-1])
    win = np.append(win_slots[:-2], win_slots[-2] + win_slots[-1]).astype(np.float64)
    return stats.pooled_table(ref, win)


def named_values(
    profile: CategoricalProfile,
    names: Mapping[str, int],
    sketch: NDArray[np.int64] | None,
    events: int,
) -> tuple[NamedValue, ...]:
    """The window's heaviest tail values holding at least ``NAME_SHARE`` of it, heaviest first."""
    if not names or events <= 0:
        return ()
    values = list(names)
    at_least = np.fromiter(names.values(), dtype=np.int64, count=len(values))
    counts = at_least
    if sketch is not None:
        estimates = sketch_estimates(
            sketch, fingerprints(values), profile.sketch_width, profile.sketch_depth
        )
        whole = np.fromiter((not is_cut(v) for v in values), dtype=bool, count=len(values))
        # Both bounds hold; the sketch's is the higher. A cut name was not sketched as such.
        counts = np.where(whole, np.maximum(estimates, at_least), at_least)
    # Ranked and kept by the named counts: a value sharing every counter with a heavy one
    # has the heavy one's estimate, but was never among its batches' heaviest.
    order = sorted(range(len(values)), key=lambda i: (-int(at_least[i]), values[i]))
    known = profile.other_categories
    return tuple(
        NamedValue(
            values[i],
            int(counts[i]),
            int(at_least[i]),
            float(counts[i]) / events,
            values[i] not in known,
        )
        for i in order[:NAMED]
        if at_least[i] >= NAME_SHARE * events
    )


def dominant_value(
    profile: CategoricalProfile, names: Mapping[str, int], window_present: int, events: int
) -> tuple[float, float]:
    """Score and p-value of the heaviest named tail value (see the module's doc).

    Score: its share of the window's values (its ``at_least`` count, so never overstated)
    less ``p0``, the most any tail value held in the reference; 0 without tail values.
    """
    if not names or window_present <= 0 or profile.present <= 0:
        return 0.0, 1.0
    heaviest = max(names.values())
    k = len(profile.categories)
    p0 = float(profile.counts[k - 1]) / profile.present if k else 1.0
    if p0 >= 1.0:
        return 0.0, 1.0
    score = max(0.0, heaviest / window_present - p0)
    tail_share = float(profile.counts[k]) / profile.present + profile.unseen_share
    candidates = max(1, math.ceil(tail_share / p0))
    # P(X >= heaviest) for X ~ Binomial(window_present, p0); bdtrc(k, n, p) is P(X > k).
    tail = float(special.bdtrc(heaviest - 1, window_present, p0))
    return score, min(1.0, candidates * tail)
