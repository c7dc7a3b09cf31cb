#!/usr/bin/env bash
# Subset of the official apache/airflow image's /entrypoint:
#   docker run IMAGE                -> airflow --help
#   docker run IMAGE bash [args]    -> bash [args]
#   docker run IMAGE python [args]  -> python [args]   (KubernetesExecutor worker pods)
#   docker run IMAGE airflow ARGS   -> airflow ARGS
#   docker run IMAGE ARGS           -> airflow ARGS   (e.g. "version")
# _AIRFLOW_DB_MIGRATE=true runs "airflow db migrate" first, like the official one.
set -euo pipefail

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
