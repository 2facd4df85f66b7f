"""``drift-monitor produce-synthetic``: endless synthetic traffic that drifts on a schedule.

The example producer of the compose stack, and a way to try a config against
live-looking data. It imitates one model of the config: the model's features
must be named as :class:`monitor.tooling.synthetic.SyntheticModel` names them
(``num_0..num_{n-1}`` numeric, ``cat_0..cat_{m-1}`` categorical), so the
events it sends are exactly what the monitor expects.

A :class:`DriftSchedule` says when the stream drifts: calm until event
``after``, then drifted, for good or alternating every ``period`` events, so
drift alerts fire and later resolve. While drifting, each named numeric
feature moves by its number of standard deviations. Events carry the wall
clock as event time, spaced by the rate. Generation runs ahead of production
by at most a second's worth of events, and production is paced and
acknowledged by :func:`monitor.replay.produce_lines`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from monitor.config import Config, ModelConfig
from monitor.errors import DriftMonitorError
from monitor.replay import ReplayResult, produce_lines, summary
from monitor.tooling.synthetic import Shift, SyntheticModel, generate

__all__ = ["DriftSchedule", "produce_synthetic", "synthetic_lines", "synthetic_model"]

log = logging.getLogger(__name__)

_MAX_BLOCK = 1000


@dataclass(frozen=True, slots=True)
class DriftSchedule:
    """Which events drift, and how: ``shift`` maps numeric features to standard deviations.

    An empty ``shift`` means the model's first numeric feature by one standard
    deviation (see :meth:`resolved`).
    """

    shift: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    after: int = 50_000
    period: int | None = None

    def __post_init__(self) -> None:
        if self.after < 0:
            raise DriftMonitorError(f"--drift-after must be 0 or more, got {self.after}")
        if self.period is not None and self.period < 1:
            raise DriftMonitorError(f"--drift-period must be 1 or more, got {self.period}")
        for name, sd in self.shift.items():
            if not math.isfinite(sd):
                raise DriftMonitorError(f"--shift {name}: expected a finite number, got {sd}")

    @classmethod
    def parse(cls, specs: Sequence[str] | None, *, after: int, period: int | None) -> DriftSchedule:
        """From ``FEATURE=SD`` strings, as given on the command line."""
        shift: dict[str, float] = {}
        for spec in specs or ():
            name, sep, value = spec.partition("=")
            try:
                if not sep or not name:
                    raise ValueError(spec)
                shift[name.strip()] = float(value)
            except ValueError:
                raise DriftMonitorError(
                    f"--shift {spec!r}: expected FEATURE=SD, e.g. num_3=1.5"
                ) from None
        return cls(MappingProxyType(shift), after, period)

    def resolved(self, layout: SyntheticModel) -> DriftSchedule:
        """This schedule with its default filled in and its features checked against ``layout``."""
        if not layout.numeric_names:
            raise DriftMonitorError(
                f"model {layout.name!r} has no numeric feature for produce-synthetic to shift"
            )
        shift = dict(self.shift) or {layout.numeric_names[0]: 1.0}
        unknown = sorted(set(shift) - set(layout.numeric_names))
        if unknown:
            raise DriftMonitorError(
                f"--shift names {', '.join(unknown)}, not numeric features of model "
                f"{layout.name!r} ({', '.join(layout.numeric_names)})"
            )
        return DriftSchedule(MappingProxyType(shift), self.after, self.period)

    def drifting(self, index: int) -> bool:
        if index < self.after:
            return False
        if self.period is None:
            return True
        return (index - self.after) // self.period % 2 == 0

    def next_change(self, index: int) -> int | None:
        """The first event after ``index`` whose :meth:`drifting` differs, if there is one."""
        if index < self.after:
            return self.after
        if self.period is None:
            return None
        return self.after + ((index - self.after) // self.period + 1) * self.period


def synthetic_model(model: ModelConfig) -> SyntheticModel:
    """The generator layout of a configured model; its feature names must be the generator's."""
    numeric = sorted(name for name, kind in model.features.items() if kind == "numeric")
    categorical = sorted(name for name, kind in model.features.items() if kind == "categorical")
    layout = SyntheticModel(name=model.name, numeric=len(numeric), categorical=len(categorical))
    if set(numeric) != set(layout.numeric_names) or set(categorical) != set(
        layout.categorical_names
    ):
        raise DriftMonitorError(
            f"models.{model.name}.features: produce-synthetic generates features named "
            f"num_0..num_{{n-1}} (numeric) and cat_0..cat_{{m-1}} (categorical); "
            f"this model has {', '.join(sorted(model.features))}"
        )
    return layout


def synthetic_lines(
    layout: SyntheticModel,
    schedule: DriftSchedule,
    *,
    rate: float,
    events: int | None = None,
    seed: int = 0,
    start_ts: float | None = None,
) -> Iterator[bytes]:
    """JSON event lines, endless unless ``events`` is given; logs each change of drift phase."""
    schedule = schedule.resolved(layout)
    base_ts = time.time() if start_ts is None else start_ts
    block = max(1, min(_MAX_BLOCK, int(rate)))
    index = 0
    drifting: bool | None = None
    while events is None or index < events:
        end = index + block
        change = schedule.next_change(index)
        if change is not None:
            end = min(end, change)
        if events is not None:
            end = min(end, events)
        now_drifting = schedule.drifting(index)
        if now_drifting != drifting:
            drifting = now_drifting
            log.info(
                "synthetic drift phase",
                extra={
                    "model": layout.name,
                    "event": index,
                    "drifting": drifting,
                    "shift": dict(schedule.shift) if drifting else {},
                    "until_event": schedule.next_change(index),
                },
            )
        shift = Shift(0, schedule.shift) if drifting else None
        yield from generate(
            layout,
            index,
            end - index,
            seed=seed,
            shift=shift,
            base_ts=base_ts,
            events_per_second=rate,
        )
        index = end


def produce_synthetic(
    config: Config,
    *,
    model: str | None = None,
    schedule: DriftSchedule | None = None,
    rate: float = 500.0,
    events: int | None = None,
    seed: int = 0,
    topic: str | None = None,
) -> ReplayResult:
    """Produce synthetic events of one configured model until ``events`` (or forever)."""
    if not rate > 0 or not math.isfinite(rate):
        raise DriftMonitorError(f"--rate must be a positive number of events per second: {rate}")
    if events is not None and events < 0:
        raise DriftMonitorError(f"--events must be 0 or more, got {events}")
    name = model or next(iter(config.models))
    if name not in config.models:
        raise DriftMonitorError(f"model {name!r} is not in the config ({', '.join(config.models)})")
    layout = synthetic_model(config.models[name])
    schedule = (schedule or DriftSchedule()).resolved(layout)
    target = topic or config.kafka.predictions_topic
    log.info(
        "producing synthetic events",
        extra={
            "model": name,
            "topic": target,
            "rate": rate,
            "events": events,
            "drift_after": schedule.after,
            "drift_period": schedule.period,
        },
    )
    result = produce_lines(
        config,
        synthetic_lines(layout, schedule, rate=rate, events=events, seed=seed),
        topic=target,
        rate=rate,
    )
    log.info("synthetic events produced", extra=summary(result))
    return result
