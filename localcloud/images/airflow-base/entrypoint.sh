#!/usr/bin/env bash
# Subset of the official apache/airflow image's /entrypoint:
#   docker run IMAGE                -> airflow --help
#   docker run IMAGE bash [args]    -> bash [args]
#   docker run IMAGE python [args]  -> python [args]   (KubernetesExecutor worker pods)
#   docker run IMAGE airflow ARGS   -> airflow ARGS
#   docker run IMAGE ARGS           -> airflow ARGS   (e.g. "version")
# Before any of them, like the official one, "airflow db check" until it passes, at most
# CONNECTION_CHECK_MAX_COUNT times (default 20, 0 skips it), CONNECTION_CHECK_SLEEP_TIME
# seconds apart (default 3): an Airflow import per try, so pods that need no check set 0.
# _AIRFLOW_DB_MIGRATE=true runs "airflow db migrate" next, like the official one.
set -euo pipefail

CONNECTION_CHECK_MAX_COUNT="${CONNECTION_CHECK_MAX_COUNT:-20}"
CONNECTION_CHECK_SLEEP_TIME="${CONNECTION_CHECK_SLEEP_TIME:-3}"
if (( CONNECTION_CHECK_MAX_COUNT > 0 )); then
  for (( try = 1; ; try++ )); do
    if out="$(airflow db check 2>&1)"; then
      break
    fi
    if (( try >= CONNECTION_CHECK_MAX_COUNT )); then
      printf 'ERROR! Maximum number of retries (%s) reached.\n\nLast check result:\n$ airflow db check\n%s\n' \
        "$CONNECTION_CHECK_MAX_COUNT" "$out"
      exit 1
    fi
    sleep "$CONNECTION_CHECK_SLEEP_TIME"
  done
fi

if [[ "${_AIRFLOW_DB_MIGRATE:-false}" == "true" ]]; then
  airflow db migrate
fi

if [[ $# -eq 0 ]]; then
  exec airflow --help
fi

case "$1" in
  bash) shift; exec /bin/bash "$@" ;;
  python) shift; exec python "$@" ;;
  airflow) shift ;;
esac
exec airflow "$@"
