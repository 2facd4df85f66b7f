"""Alerts and retraining triggers: from closed-window results to notifications, exactly once.

How a window's results become notifications::

    WindowReport ──observe()──> Observation per alert key        rules.py    (pure)
                 ──step()─────> new AlertState + Transitions      state.py    (pure)
                 ──retrain────> RetrainState + trigger payload    retrain.py  (pure)
                 ──plan()─────> AlertPlan: states, audit, outbox  plan.py     (pure)
    finalize_window.lua records the window AND applies the plan in one script,
    refusing it when the alert state moved since it was read (compare-and-set)
    outbox stream ──DeliveryWorker──> Sink.deliver()              worker.py, sinks/

The plan is pure Python, so every rule of the state machine is tested without
Redis; the Lua script only checks the version and writes. Because the window,
the state transition, its audit entry and its outbox messages are written in
one atomic step, a window recorded once causes its notifications once: a
second daemon instance is refused (the window is already recorded), and a
crash before the script repeats nothing (nothing was written).

Delivery is at least once, with a stable idempotency key per message
(``dedup_key/episode/status``), the same across retries, restarts and
instances, so a receiver can drop the rare repeat (a crash after a sink
accepted a message but before it was acknowledged in Redis).
"""
