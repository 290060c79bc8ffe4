#!/bin/sh
# Renders alertmanager.yml from the environment, then runs Alertmanager.
#
# Alertmanager reads secrets from files (*_file fields) but does not expand environment
# variables, so the plain settings below are ${NAME} placeholders filled here with sed
# (the prom/alertmanager image is busybox: no envsubst). Only these names are replaced,
# and an unset one stops the container rather than starting with an empty address.
#   usage: entrypoint.sh TEMPLATE OUTPUT [alertmanager flags...]
#   RENDER_ONLY=1 entrypoint.sh TEMPLATE OUTPUT   # render and exit (tests, debugging)
#
# One secret is filled here too: the dead man's switch URL (Watchdog's webhook), read from
# the file DEADMANSSWITCH_URL_SECRET (default /run/secrets/deadmansswitch_url), because
# the webhook's `url_file` needs Alertmanager >= 0.26. OUTPUT is then written mode 600.
set -eu

template=${1:?usage: entrypoint.sh TEMPLATE OUTPUT [flags]}
output=${2:?usage: entrypoint.sh TEMPLATE OUTPUT [flags]}
shift 2

: "${ALERTMANAGER_SMTP_REQUIRE_TLS:=true}"
: "${ALERTMANAGER_SMTP_USERNAME:=}"

script=""
for name in ALERTMANAGER_SMTP_SMARTHOST ALERTMANAGER_SMTP_FROM ALERTMANAGER_SMTP_USERNAME \
            ALERTMANAGER_SMTP_REQUIRE_TLS ALERTMANAGER_EMAIL_TO ALERTMANAGER_SLACK_CHANNEL \
            ALERTMANAGER_SLACK_CRITICAL_CHANNEL ALERTMANAGER_SLACK_BUSINESS_CHANNEL \
            DEADMANSSWITCH_WEBHOOK_URL; do
  if [ "$name" = DEADMANSSWITCH_WEBHOOK_URL ]; then
    secret_file=${DEADMANSSWITCH_URL_SECRET:-/run/secrets/deadmansswitch_url}
    if [ ! -s "$secret_file" ]; then
      echo "alertmanager entrypoint: $secret_file is missing or empty: put the dead man's switch ping URL there (see secrets/README.md)" >&2
      exit 2
    fi
    DEADMANSSWITCH_WEBHOOK_URL=$(cat "$secret_file")
  fi
  eval "set_=\${$name+x}"
  if [ -z "$set_" ]; then
    echo "alertmanager entrypoint: $name is not set (see .env.example)" >&2
    exit 2
  fi
  eval "value=\$$name"
  case $value in
    *"'"*) echo "alertmanager entrypoint: $name must not contain a single quote" >&2; exit 2 ;;
  esac
  # Escape what sed's replacement treats specially (\, & and the | delimiter).
  value=$(printf '%s' "$value" | sed 's/[\\|&]/\\&/g')
  script="${script}s|\${$name}|$value|g;"
done

umask 077
sed "$script" "$template" > "$output"
if grep -q '\${[A-Z_]*}' "$output"; then
  echo "alertmanager entrypoint: unknown placeholder left in $output:" >&2
  grep -n '\${[A-Z_]*}' "$output" >&2
  exit 2
fi
[ "${RENDER_ONLY:-}" = 1 ] && exit 0
exec /bin/alertmanager --config.file="$output" "$@"
