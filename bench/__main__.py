"""python -m bench [name ...]: run the bench_*.py modules and print their rows as JSON lines."""

import importlib
import json
import pkgutil
import platform
import sys

import psutil


def main(argv: list[str]) -> int:
    names = [m.name for m in pkgutil.iter_modules([__file__.rsplit("/", 1)[0]])
             if m.name.startswith("bench_")]
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    machine = {"machine": platform.machine(), "cpus": psutil.cpu_count(),
               "memory_gib": round(psutil.virtual_memory().total / 2**30),
               "python": platform.python_version()}
    print(json.dumps({"machine": machine}))
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        for row in module.run():
            print(json.dumps({"bench": name, **row}), flush=True)
    return 0


raise SystemExit(main(sys.argv[1:]))
