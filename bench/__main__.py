"""python -m bench [name ...] [options]: run the bench_*.py modules and print their rows as
JSON lines.

A bare ``python -m bench`` runs the quick benches; the long ones (``ON_REQUEST``: the
10-minute soak, the reliability table) run only when named. Options after one name go
to that bench: ``python -m bench soak --seconds 60``, ``python -m bench reliability
--markdown``.
"""

import importlib
import inspect
import json
import pkgutil
import platform
import sys

import psutil

ON_REQUEST = {"bench_soak", "bench_reliability"}


def main(argv: list[str]) -> int:
    names = [m.name for m in pkgutil.iter_modules([__file__.rsplit("/", 1)[0]])
             if m.name.startswith("bench_")]
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    args, options = argv[:first_option], argv[first_option:]
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in args]
    wanted = wanted or [n for n in names if n not in ON_REQUEST]
    if options and len(wanted) != 1:
        print("options go to one bench: python -m bench NAME [options]", file=sys.stderr)
        return 2
    machine = {"machine": platform.machine(), "cpus": psutil.cpu_count(),
               "memory_gib": round(psutil.virtual_memory().total / 2**30),
               "python": platform.python_version()}
    print(json.dumps({"machine": machine}), flush=True)
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        if options and not inspect.signature(module.run).parameters:
            print(f"{name} takes no options", file=sys.stderr)
            return 2
        rows = module.run(options) if options else module.run()
        for row in rows:
            print(json.dumps({"bench": name, **row}), flush=True)
    return 0


raise SystemExit(main(sys.argv[1:]))
