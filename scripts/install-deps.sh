#!/usr/bin/env bash
# Installs what the exporter, its tests and the demo need, skipping what is already there:
# Debian packages (redis-server, Prometheus, Alertmanager, the two exporters we compare
# with, docker-compose for `config` validation, the jsonnet CLI) and the Python package
# with its dev extras, into the interpreter named by $PYTHON (default .venv/bin/python, a
# virtualenv created here with python3 when missing: never the system's own Python).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have redis-server || need+=(redis-server)
have promtool || need+=(prometheus)
have amtool || need+=(prometheus-alertmanager)
have prometheus-node-exporter || need+=(prometheus-node-exporter)
have prometheus-redis-exporter || need+=(prometheus-redis-exporter)
have docker-compose || need+=(docker-compose)
have jsonnet || need+=(jsonnet)  # the mixin test runs the CLI: `jsonnet -S -m . mixin/build.jsonnet`

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${need[*]}"
  $sudo apt-get update -qq
  # Package scripts try to start services; there is no init system here, so tell them not to.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-$VENV/bin/python}"
if [ "$PYTHON" = "$VENV/bin/python" ] && [ ! -x "$PYTHON" ]; then
  echo "creating the virtualenv $VENV"
  python3 -m venv "$VENV"
fi
"$PYTHON" -m pip install -q --disable-pip-version-check -e '.[dev]'
