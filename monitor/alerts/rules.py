"""What an alert rule sees in one window: evidence per result, grouped into observations.

A result *breaches* a rule when the drift test flagged it (effect size and, where
there is one, a significant p-value) and its score reaches the rule's ``warn``
level, which defaults to the test's own. Otherwise it is *clear*: resolving uses
the same decision as firing, significance included. (A raw-score band below
``warn`` would never be reached by a small window, whose sampling noise alone
keeps scores near ``warn``; the test already says whether a score is noise.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from detectors.estimation import Estimate
from detectors.evaluate import SignalResult, named_facts
from detectors.methods import QUALITY_METHODS
from detectors.multivariate import Contributor
from detectors.tail import NamedValue
from detectors.versus import is_comparison
from monitor.config import AlertRuleConfig, Levels

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


class Observation:
    """Everything one alert (one dedup key) sees in one window.

    A segmented window has thousands of results and almost all of them are clear, so
    an observation keeps its results and judges them into :class:`Evidence` only when
    something reads the evidence: a transition's audit entry, a notification's facts.
    Whether it breaches, and how badly, is read from the results directly.
    """

    __slots__ = ("_breaching", "_evidence", "_judged", "_kind", "dedup_key", "rule", "signal")

    def __init__(
        self,
        dedup_key: str,
        rule: AlertRuleConfig,
        kind: str | None,
        signal: str | None,
        judged: Sequence[Judged],
    ) -> None:
        """``judged``: the rule's results with their kinds, in the window's order;
        ``kind`` None: the kind of the worst of them (a rule grouped per model)."""
        self.dedup_key = dedup_key
        self.rule = rule
        self.signal = signal  # None when the rule groups per model
        self._kind = kind
        self._judged = judged
        self._evidence: tuple[Evidence, ...] | None = None
        self._breaching: bool | None = None

    @property
    def kind(self) -> str:
        if self._kind is None:
            self._kind = max(self.evidence, key=lambda e: e.weight).kind
        return self._kind

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        if self._evidence is None:
            self._evidence = tuple(judge(r, self.rule, kind) for _, r, kind in self._judged)
        return self._evidence

    @property
    def breaching(self) -> bool:
        if self._breaching is None:
            levels = self.rule.thresholds
            self._breaching = any(_breaches(r, levels) for _, r, _ in self._judged)
        return self._breaching

    @property
    def segments(self) -> list[str]:
        """The segments whose evidence breaches, by name."""
        return sorted({e.segment for e in self.evidence if e.breaching and e.segment})

    @property
    def clear(self) -> bool:
        return not self.breaching

    @property
    def severity(self) -> Literal["warning", "critical"]:
        levels = self.rule.thresholds
        for _, r, _ in self._judged:
            if _breaches(r, levels) and r.score >= _critical(r, levels):
                return "critical"
        return "warning"

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


def _warn(result: SignalResult, thresholds: Mapping[str, Levels]) -> float:
    """The warn level a rule judges ``result`` by: the rule's for its method, else the test's."""
    levels = thresholds.get(result.method)
    return result.warn if levels is None or levels.warn is None else levels.warn


def _breaches(result: SignalResult, thresholds: Mapping[str, Levels]) -> bool:
    """Whether a rule counts ``result`` against its alert: its test drifted, and its score
    reaches the rule's warn level."""
    return result.drifted and result.score >= _warn(result, thresholds)


def _critical(result: SignalResult, thresholds: Mapping[str, Levels]) -> float:
    levels = thresholds.get(result.method)
    return result.critical if levels is None or levels.critical is None else levels.critical


def judge(result: SignalResult, rule: AlertRuleConfig, kind: str) -> Evidence:
    """The result as evidence for ``rule``; ``kind`` is its :func:`kind_of`."""
    warn = _warn(result, rule.thresholds)
    return Evidence(
        signal=result.signal,
        kind=kind,
        method=result.method,
        score=result.score,
        p_value=result.p_value,
        warn=warn,
        critical=_critical(result, rule.thresholds),
        breaching=_breaches(result, rule.thresholds),
        attribution=result.attribution,
        values=result.values,
        estimate=result.estimate,
        segment=result.segment,
        no_drift=result.no_drift,
    )


Judged = tuple[int, SignalResult, str]
"""A result with its position in the window and its kind."""


def kinds_of(results: Sequence[SignalResult]) -> list[str]:
    """Each result's :func:`kind_of`, worked out once per role, method and part (a
    segmented window has thousands of results and a few hundred of those)."""
    known: dict[tuple[str, str, str | None], str] = {}
    kinds = []
    for r in results:
        at = (r.role, r.method, r.segment)
        if (kind := known.get(at)) is None:
            kind = known[at] = kind_of(r)
        kinds.append(kind)
    return kinds


def _grouped(results: Sequence[SignalResult]) -> dict[tuple[str, str, str], list[Judged]]:
    """The results a rule can judge (all but the insufficient ones) grouped by alert key
    (kind, signal, segment key), keys in order of first appearance: one pass for every
    rule, with each result's kind (:func:`kinds_of`) and each part's key worked out once."""
    groups: dict[tuple[str, str, str], list[Judged]] = {}
    parts: dict[str | None, str] = {}
    for i, (r, kind) in enumerate(zip(results, kinds_of(results), strict=True)):
        if r.severity == "insufficient":
            continue
        part = parts.get(r.segment)
        if part is None:
            part = parts[r.segment] = segment_key(r.segment)
        item = (i, r, kind)
        key = (kind, r.signal, part)
        group = groups.get(key)
        if group is None:
            groups[key] = [item]
        else:
            group.append(item)
    return groups


def _selected(
    groups: dict[tuple[str, str, str], list[Judged]], rule: AlertRuleConfig
) -> list[tuple[tuple[str, str, str], list[Judged]]]:
    """The groups with results ``rule`` selects, each cut to them, in order of their first."""
    methods = frozenset(rule.methods)
    selected = []
    for key, items in groups.items():
        kind, signal, _ = key
        if kind not in rule.kinds or (rule.signals and signal not in rule.signals):
            continue
        if methods:
            items = [item for item in items if item[1].method in methods]
            if not items:
                continue
        selected.append((key, items))
    if methods:  # a key's first result may have been left out: order by the first kept
        selected.sort(key=lambda pair: pair[1][0][0])
    return selected


def observe(
    model: str, rules: Iterable[AlertRuleConfig], results: Sequence[SignalResult]
) -> list[Observation]:
    """One observation per alert key that has evidence in this window, in a stable order:
    a rule's keys in order of their first selected result."""
    observations: list[Observation] = []
    groups = _grouped(results)
    for rule in rules:
        selected = _selected(groups, rule)
        if not selected:
            continue
        if rule.grouping == "model":
            items = sorted((item for _, group in selected for item in group), key=lambda x: x[0])
            observations.append(Observation(f"{model}/{rule.name}", rule, None, None, items))
            continue
        observations.extend(
            Observation(f"{model}/{kind}/{signal}{part}", rule, kind, signal, items)
            for (kind, signal, part), items in selected
        )
    return observations


def segment_key(segment: str | None) -> str:
    """The part of a dedup key that says which segments an alert watches: ``@region`` for
    the segments of key ``region`` (one alert names those affected, rather than one page
    per segment), nothing for the whole model."""
    return "" if segment is None else "@" + segment.split("=", 1)[0]
