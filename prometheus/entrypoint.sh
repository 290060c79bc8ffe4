#!/bin/sh
# Runs Prometheus on prometheus.yml, with the remote_write block of remote-write.yml (next
# to it) added when PROMETHEUS_REMOTE_WRITE_URL is set; unset or empty (the default), on
# prometheus.yml as it is.
#
# Prometheus expands environment variables in external labels only, so the block's ${NAME}
# placeholders are filled here with sed (the prom/prometheus image is busybox: no
# envsubst), into OUTPUT, written mode 600 (a URL may hold a token). With remote_write on,
# a reload (/-/reload, SIGHUP) rereads OUTPUT: restart the container after editing
# prometheus.yml.
#   usage: entrypoint.sh CONFIG OUTPUT [prometheus flags...]
#   RENDER_ONLY=1 entrypoint.sh CONFIG OUTPUT   # render (if on) and exit: tests, debugging
set -eu

config=${1:?usage: entrypoint.sh CONFIG OUTPUT [flags]}
output=${2:?usage: entrypoint.sh CONFIG OUTPUT [flags]}
shift 2

if [ -z "${PROMETHEUS_REMOTE_WRITE_URL:-}" ]; then
  [ "${RENDER_ONLY:-}" = 1 ] && exit 0
  exec /bin/prometheus --config.file="$config" "$@"
fi

: "${PROMETHEUS_REMOTE_WRITE_USERNAME:=}"
case $PROMETHEUS_REMOTE_WRITE_URL$PROMETHEUS_REMOTE_WRITE_USERNAME in
  *"'"*) echo "prometheus entrypoint: PROMETHEUS_REMOTE_WRITE_URL and _USERNAME must not contain a single quote" >&2
         exit 2 ;;
esac
# The value as sed's replacement: \, & and the | delimiter escaped.
literal() { printf '%s' "$1" | sed 's/[\\|&]/\\&/g'; }

umask 077
{ cat "$config"; echo
  sed -e "s|\${PROMETHEUS_REMOTE_WRITE_URL}|$(literal "$PROMETHEUS_REMOTE_WRITE_URL")|g" \
      -e "s|\${PROMETHEUS_REMOTE_WRITE_USERNAME}|$(literal "$PROMETHEUS_REMOTE_WRITE_USERNAME")|g" \
      "$(dirname "$config")/remote-write.yml"; } > "$output"
[ "${RENDER_ONLY:-}" = 1 ] && exit 0
exec /bin/prometheus --config.file="$output" "$@"
