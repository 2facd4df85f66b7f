"""What `reference list`, `show` and `diff` print: stored profiles as plain data and as lines
that fit 80 columns.

``diff`` compares two versions with the daemon's own effect sizes (``detectors.stats``):
PSI on the older version's reference deciles and Jensen-Shannon distance (numeric and
categorical), Wasserstein-1 over the older version's standard deviation (numeric), and the
change of the missing share. A profile keeps bins, not rows, so the newer version's bins
are placed at their exact means to be counted in the older one's bins (Wasserstein needs no
such step: it takes each side's atoms as they are). A signal has *moved* when one of them
reaches the model's warn threshold for that method (``missing_rate``'s for the missing share).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from detectors.methods import DEFAULT_THRESHOLDS, Thresholds
from detectors.profile import CategoricalProfile, NumericProfile, ReferenceProfile, SignalProfile
from detectors.stats import (
    jensen_shannon_distance,
    population_stability_index,
    wasserstein_from_bins,
)
from monitor.when import local_time, relative, when

WIDTH = 80
DIFF_METHODS = ("psi", "jensen_shannon", "wasserstein", "missing_rate")
"""The effect sizes ``diff`` gives per signal, by the daemon's method names."""


# --------------------------------------------------------------------------- text


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the cut marked by ``…`` in the middle (paths keep
    their file name)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return text[:width]
    head = (width - 1) // 3
    return text[:head] + "…" + text[len(text) - (width - 1 - head) :]


def number(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.3g}"


def _beside(name: str, rest: str) -> list[str]:
    """``name  rest`` on one line if it fits, else the name whole on a line of its own (a
    name is never cut) and ``rest`` indented below it."""
    if len(name) + 2 + len(rest) <= WIDTH:
        return [f"{name}  {rest}"]
    return [name, clip(f"      {rest}", WIDTH)]


def _fill(items: Sequence[str], indent: str, width: int = WIDTH) -> list[str]:
    """Items joined by two spaces on lines of at most ``width``; never an item cut."""
    lines: list[str] = []
    line = indent
    for item in items:
        piece = item if line == indent else "  " + item
        if len(line) + len(piece) > width and line != indent:
            lines.append(line)
            line, piece = indent, item
        line += piece
    if line != indent:
        lines.append(line)
    return lines


# --------------------------------------------------------------------------- list


def version_entry(profile: ReferenceProfile, in_use: bool) -> dict[str, Any]:
    return {
        "id": profile.id,
        "in_use": in_use,
        "created_at": profile.created_at,
        "source": profile.source,
        "rows": profile.events,
    }


def list_lines(
    model: str, versions: Sequence[ReferenceProfile], in_use: str | None, now: float
) -> list[str]:
    if not versions:
        return [f"{model}: no reference stored"]
    count = f"{model}: {len(versions)} version{'s' if len(versions) != 1 else ''}"
    lines = (
        _beside(count, "(* in use: what the daemon loads when it starts)") if in_use else [count]
    )
    for profile in versions:
        mark = "*" if profile.id == in_use else " "
        lines.extend(
            _beside(
                f"  {mark} {profile.id}",
                f"{local_time(profile.created_at)}  {relative(profile.created_at, now):<11}"
                f" {profile.events:>10,} rows",
            )
        )
        lines.append("      from " + clip(profile.source, WIDTH - 11))
    return lines


# --------------------------------------------------------------------------- show


def _quantiles(signal: NumericProfile, qs: Sequence[float]) -> list[float]:
    """Quantiles read off the bins: interpolated between the edges at their cumulative shares."""
    total = signal.present
    if total == 0:
        return [math.nan] * len(qs)
    shares = np.cumsum(signal.counts)[:-1] / total
    xs = np.concatenate(([0.0], shares, [1.0]))
    ys = np.concatenate(([signal.minimum], signal.edges, [signal.maximum]))
    return [float(v) for v in np.interp(qs, xs, ys)]


def signal_summary(signal: SignalProfile) -> dict[str, Any]:
    rows = signal.present + signal.missing
    out: dict[str, Any] = {
        "signal": signal.name,
        "role": signal.role,
        "kind": signal.kind,
        "missing_share": signal.missing / rows if rows else 0.0,
    }
    if isinstance(signal, NumericProfile):
        p5, p50, p95 = _quantiles(signal, (0.05, 0.5, 0.95))
        out.update(
            bins=signal.bins,
            mean=signal.mean,
            std=signal.std,
            min=signal.minimum,
            p5=p5,
            p50=p50,
            p95=p95,
            max=signal.maximum,
        )
    else:
        present = signal.present
        out.update(
            categories=len(signal.categories),
            other_share=int(signal.counts[signal.other_slot]) / present if present else 0.0,
            top=[
                [category, int(count) / present]
                for category, count in zip(
                    signal.categories[:10], signal.counts[:10].tolist(), strict=False
                )
            ]
            if present
            else [],
        )
    return out


def profile_summary(profile: ReferenceProfile, in_use: bool) -> dict[str, Any]:
    return {
        **version_entry(profile, in_use),
        "labelled": profile.quality is not None,
        "joint_features": list(profile.joint.names) if profile.joint is not None else [],
        "signals": [signal_summary(s) for s in profile.signals],
    }


def show_lines(profile: ReferenceProfile, in_use: bool, now: float) -> list[str]:
    summary = profile_summary(profile, in_use)
    lines = [
        profile.id + ("  (in use)" if in_use else ""),
        f"  built   {when(profile.created_at, now)}",
        f"  source  {clip(profile.source, WIDTH - 10)}",
        f"  rows    {profile.events:,}"
        + ("; with labels (a quality baseline)" if summary["labelled"] else ""),
    ]
    if profile.joint is not None:
        lines.append(
            f"  joint   correlation of {profile.joint.size} numeric features "
            f"({profile.joint.rows:,} complete rows)"
        )
    lines.append("")
    for signal in summary["signals"]:
        missing = f"{signal['missing_share']:.1%} missing"
        is_prediction = signal["role"] == "prediction" and signal["signal"] != "prediction"
        role = " (prediction)" if is_prediction else ""
        if signal["kind"] == "numeric":
            head = f"{signal['bins']} bins, {missing}"
            items = [
                f"{key} {number(signal[key])}"
                for key in ("mean", "std", "min", "p5", "p50", "p95", "max")
            ]
        else:
            head = f"{signal['categories']} categories, {missing}"
            items = [f"{clip(c, 24)} {share:.1%}" for c, share in signal["top"][:6]]
            if signal["categories"] > len(items):
                items.append(f"(+{signal['categories'] - len(items)} more)")
            if signal["other_share"]:
                items.append(f"(past max_categories: {signal['other_share']:.1%})")
        lines.extend(_beside(f"{signal['signal']}{role}", f"{signal['kind']}, {head}"))
        lines.extend(_fill(items, "    "))
    return lines


# --------------------------------------------------------------------------- diff


@dataclass(frozen=True, slots=True)
class SignalMove:
    """How far one signal moved between two versions."""

    signal: str
    kind: str
    scores: Mapping[str, float]
    """Effect size by method (absent when not defined for the signal's kind or data)."""
    moved: bool
    strength: float
    """The largest score over its warn threshold: what the diff is sorted by."""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "kind": self.kind,
            "moved": self.moved,
            "scores": dict(self.scores),
            "note": self.note,
        }


def diff_profiles(
    old: ReferenceProfile,
    new: ReferenceProfile,
    thresholds: Mapping[str, Thresholds] = DEFAULT_THRESHOLDS,
) -> list[SignalMove]:
    """Each signal's effect sizes from ``old`` to ``new``, moved ones first, largest first."""
    moves = []
    new_signals = {s.name: s for s in new.signals}
    for before in old.signals:
        after = new_signals.pop(before.name, None)
        if after is None:
            moves.append(SignalMove(before.name, before.kind, {}, True, math.inf, "only in A"))
        elif after.kind != before.kind:
            moves.append(SignalMove(before.name, after.kind, {}, True, math.inf, "new kind"))
        else:
            moves.append(_move(before, after, thresholds))
    moves.extend(
        SignalMove(s.name, s.kind, {}, True, math.inf, "only in B") for s in new_signals.values()
    )
    return sorted(moves, key=lambda m: (not m.moved, -m.strength, m.signal))


def _move(
    before: SignalProfile, after: SignalProfile, thresholds: Mapping[str, Thresholds]
) -> SignalMove:
    scores: dict[str, float] = {}
    if isinstance(before, NumericProfile) and isinstance(after, NumericProfile):
        if before.present and after.present:
            scores.update(_numeric_scores(before, after))
    elif (
        isinstance(before, CategoricalProfile)
        and isinstance(after, CategoricalProfile)
        and before.present
        and after.present
    ):
        ref, moved = _categorical_counts(before, after)
        scores["psi"] = population_stability_index(ref, moved)
        scores["jensen_shannon"] = jensen_shannon_distance(ref, moved)
    scores["missing_rate"] = _missing_share(after) - _missing_share(before)
    ratios = []
    for method, score in scores.items():
        level = thresholds.get(method, DEFAULT_THRESHOLDS[method]).warn
        size = abs(score) if method == "missing_rate" else score
        if math.isfinite(size) and level > 0:
            ratios.append(size / level)
    strength = max(ratios, default=0.0)
    return SignalMove(before.name, before.kind, scores, strength >= 1.0, strength)


def _missing_share(signal: SignalProfile) -> float:
    rows = signal.present + signal.missing
    return signal.missing / rows if rows else 0.0


def _means(signal: NumericProfile) -> NDArray[np.float64]:
    means = np.full(signal.counts.size, np.nan)
    occupied = signal.counts > 0
    means[occupied] = signal.sums[occupied] / signal.counts[occupied]
    return means


def _numeric_scores(before: NumericProfile, after: NumericProfile) -> dict[str, float]:
    # The newer version's bins, each at its exact mean, counted in the older one's bins.
    after_means = _means(after)
    occupied = after.counts > 0
    slots = np.searchsorted(before.edges, after_means[occupied], side="right")
    moved = np.bincount(slots, weights=after.counts[occupied], minlength=before.counts.size)
    starts = before.coarse_starts
    scores = {
        "psi": population_stability_index(
            np.add.reduceat(before.counts, starts), np.add.reduceat(moved, starts)
        ),
        "jensen_shannon": jensen_shannon_distance(
            np.add.reduceat(before.counts, starts), np.add.reduceat(moved, starts)
        ),
    }
    distance = wasserstein_from_bins(_means(before), before.counts, after_means, after.counts)
    if before.std > 0:
        scores["wasserstein"] = distance / before.std
    elif distance > 0:
        scores["wasserstein"] = math.inf
    else:
        scores["wasserstein"] = 0.0
    return scores


def _categorical_counts(
    before: CategoricalProfile, after: CategoricalProfile
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Both versions' counts in the older one's slots (categories, other, unseen); the newer
    one's ``other`` slot goes to ``other``."""
    codes = before.encode(list(after.categories))
    moved = np.zeros(before.slots, dtype=np.int64)
    np.add.at(moved, codes, after.counts[: len(after.categories)])
    moved[before.other_slot] += int(after.counts[after.other_slot])
    return before.counts, moved


def diff_lines(
    old: ReferenceProfile, new: ReferenceProfile, moves: Sequence[SignalMove], now: float
) -> list[str]:
    moved = sum(m.moved for m in moves)
    lines = [
        *_beside(f"A {old.id}", f"{when(old.created_at, now)}  {old.events:,} rows"),
        *_beside(f"B {new.id}", f"{when(new.created_at, now)}  {new.events:,} rows"),
        f"{moved} of {len(moves)} signals moved from A to B (an effect size at its warn "
        "threshold or over)",
        "",
    ]
    # Besides the name: 2 + kind 11 + 3 scores of 7 + missing 9 + the verdict (10 at most).
    name_width = max(6, min(WIDTH - 53, max((len(m.signal) for m in moves), default=6)))
    header = (
        f"{'signal':<{name_width}} {'kind':<11} {'psi':>6} {'js':>6} {'wass':>6} {'missing':>8}"
    )
    lines.append(header)
    for move in moves:
        cells = [
            _score(move.scores.get("psi")),
            _score(move.scores.get("jensen_shannon")),
            _score(move.scores.get("wasserstein")),
        ]
        missing = move.scores.get("missing_rate")
        missing_text = "-" if missing is None else f"{missing * 100:+.1f}pp"
        verdict = move.note or ("moved" if move.moved else "")
        row = f"{move.kind:<11} {cells[0]:>6} {cells[1]:>6} {cells[2]:>6} {missing_text:>8}" + (
            f" {verdict}" if verdict else ""
        )
        if len(move.signal) > name_width:
            lines.append(move.signal)
            lines.append(f"{'':<{name_width}}  {row}")
        else:
            lines.append(f"{move.signal:<{name_width}}  {row}")
    joint = _joint_change(old, new)
    if joint:
        lines.extend(["", joint])
    return lines


def _score(value: float | None) -> str:
    if value is None:
        return "-"
    if math.isinf(value):
        return "inf"
    return f"{value:.3f}" if value < 10 else f"{value:.0f}"


def _joint_change(old: ReferenceProfile, new: ReferenceProfile) -> str | None:
    if old.joint is None or new.joint is None:
        return None
    shared = [n for n in old.joint.names if n in new.joint.names]
    if len(shared) < 2:
        return None
    i = [old.joint.names.index(n) for n in shared]
    j = [new.joint.names.index(n) for n in shared]
    change = np.abs(old.joint.correlation[np.ix_(i, i)] - new.joint.correlation[np.ix_(j, j)])
    a, b = np.unravel_index(int(np.argmax(change)), change.shape)
    return clip(
        f"joint: the largest correlation change is {change[a, b]:.3f} "
        f"({shared[a]} with {shared[b]})",
        WIDTH,
    )
