"""Alert and retraining sinks: each renders the same facts in its receiver's native format.

One module per receiver holds only its rendering (pure, checked against the
receiver's documented fields in the tests); ``http.py`` is the one HTTP
transport, ``kafka.py`` the one Kafka producer, and ``registry.py`` builds the
configured sinks.
"""
