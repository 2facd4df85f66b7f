"""The label path: label events in, joined with their predictions, counted as quality.

* :mod:`~monitor.labels.decode`: label messages into per-model labels, or dead letters.
* :mod:`~monitor.labels.joins`: pairing predictions with their late (or early) labels.
* :mod:`~monitor.labels.quality_inputs`: joined pairs into mergeable quality counters.
* :mod:`~monitor.labels.sequential`: order-dependent detectors, one per Kafka partition;
  their main input, the error stream, comes from the joins.
* :mod:`~monitor.labels.quality_evaluator`: judging each labelled window's quality
  against the reference's and alerting on it, beside the window evaluator.

Planning here is pure: the store reads what the planners need and writes what they
return (see docs/architecture.md).
"""
