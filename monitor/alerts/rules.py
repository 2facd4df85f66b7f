"""What an alert rule sees in one window: evidence per result, grouped into observations.

A result *breaches* a rule when the drift test flagged it (effect size and, where
there is one, a significant p-value) and its score reaches the rule's ``warn``
level, which defaults to the test's own. Otherwise it is *clear*: resolving uses
the same decision as firing, significance included. (A raw-score band below
``warn`` would never be reached by a small window, whose sampling noise alone
keeps scores near ``warn``; the test already says whether a score is noise.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from detectors.estimation import Estimate
from detectors.evaluate import SignalResult, named_facts
from detectors.methods import QUALITY_METHODS
from detectors.multivariate import Contributor
from detectors.tail import NamedValue
from detectors.versus import is_comparison
from monitor.config import AlertRuleConfig

EvidenceSeverity = Literal["ok", "warning", "critical"]


def kind_of(result: SignalResult) -> str:
    """The alert kind of a result (performance verdicts carry their own role; a challenger
    judged against its champion, ``monitor.challenger``, is a kind of its own)."""
    if is_comparison(result.segment):
        return "version_comparison"
    if result.method in QUALITY_METHODS:
        return "data_quality"
    role: str = result.role
    if role == "prediction":
        return "prediction_drift"
    if role == "performance":
        return "performance"
    if role == "multivariate":
        return "multivariate_drift"
    if role == "estimated_performance":
        return "estimated_performance"
    if role == "segment":
        return "segment_share_drift"
    return "feature_drift"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One result judged by one rule's levels."""

    signal: str
    kind: str
    method: str
    score: float
    p_value: float | None
    warn: float
    critical: float
    breaching: bool
    attribution: tuple[Contributor, ...] = ()
    """What a joint result names (pairs or features that moved most); else empty."""
    values: tuple[NamedValue, ...] = ()
    """The values a categorical result names (``SignalResult.values``)."""
    estimate: Estimate | None = None
    """An estimated-performance result's estimate (``SignalResult.estimate``)."""
    segment: str | None = None
    """The segment the result judged (``region=eu``); None for the whole model."""
    no_drift: float | None = None
    """What the score reads without drift at this window's size (``SignalResult.no_drift``)."""

    @property
    def clear(self) -> bool:
        """Not breaching: the drift test's own verdict says no (or the rule's level is not met)."""
        return not self.breaching

    @property
    def severity(self) -> EvidenceSeverity:
        if not self.breaching:
            return "ok"
        return "critical" if self.score >= self.critical else "warning"

    @property
    def weight(self) -> float:
        """Score relative to its warn level: how to compare methods with different scales."""
        return self.score / self.warn if self.warn > 0 else self.score

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "signal": self.signal,
            "kind": self.kind,
            "method": self.method,
            "score": self.score,
            "threshold": self.warn,
            "critical_threshold": self.critical,
            "p_value": self.p_value,
            "severity": self.severity,
        }
        if self.no_drift is not None:
            out["no_drift"] = self.no_drift
        return out | named_facts(self.attribution, self.values, self.estimate, self.segment)


@dataclass(frozen=True, slots=True)
class Observation:
    """Everything one alert (one dedup key) sees in one window."""

    dedup_key: str
    rule: AlertRuleConfig
    kind: str
    signal: str | None  # None when the rule groups per model
    evidence: tuple[Evidence, ...]

    @property
    def breaching(self) -> bool:
        return any(e.breaching for e in self.evidence)

    @property
    def segments(self) -> list[str]:
        """The segments whose evidence breaches, by name."""
        return sorted({e.segment for e in self.evidence if e.breaching and e.segment})

    @property
    def clear(self) -> bool:
        return all(e.clear for e in self.evidence)

    @property
    def severity(self) -> Literal["warning", "critical"]:
        return "critical" if any(e.severity == "critical" for e in self.evidence) else "warning"

    @property
    def worst(self) -> Evidence:
        """The breaching evidence furthest above its level, else the one nearest to it."""
        pool = [e for e in self.evidence if e.breaching] or list(self.evidence)
        return max(pool, key=lambda e: e.weight)

    def of_method(self, method: str | None) -> Evidence:
        """This window's evidence of the method an episode fired on (else the worst)."""
        for e in self.evidence:
            if e.method == method and (self.signal is not None or e.breaching):
                return e
        return self.worst


def judge(result: SignalResult, rule: AlertRuleConfig, kind: str) -> Evidence:
    """The result as evidence for ``rule``; ``kind`` is its :func:`kind_of`."""
    levels = rule.thresholds.get(result.method)
    warn = result.warn if levels is None or levels.warn is None else levels.warn
    critical = result.critical if levels is None or levels.critical is None else levels.critical
    return Evidence(
        signal=result.signal,
        kind=kind,
        method=result.method,
        score=result.score,
        p_value=result.p_value,
        warn=warn,
        critical=critical,
        breaching=result.drifted and result.score >= warn,
        attribution=result.attribution,
        values=result.values,
        estimate=result.estimate,
        segment=result.segment,
        no_drift=result.no_drift,
    )


def _selected(
    judged: Sequence[tuple[SignalResult, str]], rule: AlertRuleConfig
) -> list[tuple[SignalResult, str]]:
    return [
        (r, kind)
        for r, kind in judged
        if kind in rule.kinds
        and (not rule.signals or r.signal in rule.signals)
        and (not rule.methods or r.method in rule.methods)
    ]


def observe(
    model: str, rules: Iterable[AlertRuleConfig], results: Sequence[SignalResult]
) -> list[Observation]:
    """One observation per alert key that has evidence in this window, in a stable order."""
    observations: list[Observation] = []
    # Each result's kind once, not once per rule: a segmented window has thousands.
    judged = [(r, kind_of(r)) for r in results if r.severity != "insufficient"]
    for rule in rules:
        evidence = [judge(r, rule, kind) for r, kind in _selected(judged, rule)]
        if not evidence:
            continue
        if rule.grouping == "model":
            worst = max(evidence, key=lambda e: e.weight)
            observations.append(
                Observation(f"{model}/{rule.name}", rule, worst.kind, None, tuple(evidence))
            )
            continue
        groups: dict[tuple[str, str, str], list[Evidence]] = {}
        for e in evidence:
            groups.setdefault((e.kind, e.signal, segment_key(e.segment)), []).append(e)
        for (kind, signal, key), items in groups.items():
            observations.append(
                Observation(f"{model}/{kind}/{signal}{key}", rule, kind, signal, tuple(items))
            )
    return observations


def segment_key(segment: str | None) -> str:
    """The part of a dedup key that says which segments an alert watches: ``@region`` for
    the segments of key ``region`` (one alert names those affected, rather than one page
    per segment), nothing for the whole model."""
    return "" if segment is None else "@" + segment.split("=", 1)[0]
