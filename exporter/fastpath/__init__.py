"""Where the exporter goes faster than a library's public API, and only here.

Each module wraps one library: ``prometheus`` (prometheus_client's metric internals and
its label escaping) and ``redis`` (redis-py's raw connection calls). Each fast path checks
the private shape it relies on and falls back to the public API when that shape is gone,
and tests/fastpath/ compares every fast path with the library's own output, so a library
upgrade breaks one of those tests rather than the exporter.
"""
