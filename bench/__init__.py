"""Benchmarks. Each bench_*.py module has ``run() -> list[dict]`` rows (name, figure, baseline,
ratio, command); ``python -m bench`` runs them all (or those named) and prints the rows."""
