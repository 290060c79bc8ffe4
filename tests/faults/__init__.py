"""Fault tests (issue 9): the real exporter, as a subprocess, against a real redis-server
on loopback, under the faults a production deployment meets - a connection that loses
Redis' reply, Redis paused, Redis killed and restarted empty, a replica SIGKILLed - with
every event counted by its stream id (see ``replica.py`` and ``harness.py``).

They run in the default suite (``make test``); alone, with their figures printed:
``python3 -m pytest -q -s -m faults``. Each is bounded (under a minute, most well under).
"""
