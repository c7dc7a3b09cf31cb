#!/usr/bin/env bash
# Run the tests that need the pinned Airflow (3.3.2) in their own virtualenv.
#
#   tests/airflow/run.sh [--relock] [pytest args...]
#
# The venv lives at ${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}/airflow-venv-3.3.2
# and is rebuilt only when its inputs change (requirements.in,
# requirements.lock, docker/requirements.txt, the Python version): the input
# hash is stored in the venv.  A migrated SQLite metadata DB is cached in the
# venv too, so a re-run with nothing changed costs seconds plus test time.
#
# Environment:
#   SPOTFLOW_AIRFLOW_PYTHON  interpreter for the venv (default: python3.12, 3.11, 3.10)
#   SPOTFLOW_CACHE           cache root (default: $HOME/.cache/spotflow)
#   SPOTFLOW_IMAGE_TESTS=0   skip the docker image build test (test_image.py)
set -euo pipefail

AIRFLOW_VERSION=3.3.2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${SPOTFLOW_CACHE:-$HOME/.cache/spotflow}"
VENV="$CACHE/airflow-venv-$AIRFLOW_VERSION"
REQ_IN="$HERE/requirements.in"
LOCK="$HERE/requirements.lock"
IMAGE_REQ="$REPO/docker/requirements.txt"

log() { printf '[airflow-tests %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

RELOCK=0
if [[ "${1:-}" == "--relock" ]]; then RELOCK=1; shift; fi

pick_python() {
  if [[ -n "${SPOTFLOW_AIRFLOW_PYTHON:-}" ]]; then echo "$SPOTFLOW_AIRFLOW_PYTHON"; return; fi
  local c
  for c in python3.12 /root/.pyenv/versions/3.12.1/bin/python3.12 python3.11 python3.10; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      command -v "$c"; return
    fi
  done
  log "no usable Python 3.10-3.12 with venv found; set SPOTFLOW_AIRFLOW_PYTHON"; exit 2
}
PY="$(pick_python)"
PYVER="$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"

input_key() {
  { echo "airflow=$AIRFLOW_VERSION python=$PYVER"
    cat "$REQ_IN" "$IMAGE_REQ"
    [[ -f "$LOCK" ]] && cat "$LOCK" || echo "no-lock"
  } | sha256sum | cut -c1-16
}

KEY="$(input_key)"
if [[ $RELOCK == 0 && -x "$VENV/bin/python" && "$(cat "$VENV/.spotflow-key" 2>/dev/null)" == "$KEY" ]]; then
  log "reusing venv $VENV (key $KEY)"
else
  start=$SECONDS
  log "creating venv $VENV with $PY ($PYVER); this takes a few minutes"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade "pip==26.3" 2>&1 | grep -v "WARNING: Location 'file:" >&2 || true
  constraint=()
  if [[ $RELOCK == 0 && -f "$LOCK" ]]; then
    constraint=(-c "$LOCK")
    log "installing from $(basename "$LOCK") (resolved set)"
  else
    log "resolving requirements freshly (no lock, or --relock)"
  fi
  set +e
  "$VENV/bin/python" -m pip install --progress-bar off \
    -r "$REQ_IN" -r "$IMAGE_REQ" "${constraint[@]}" 2>&1 \
    | grep --line-buffered -vE "^ *(WARNING: Location 'file:|Requirement already satisfied|Downloading|Using cached|Obtaining|\[notice\])" \
    | sed -u 's/^/    /' >&2
  pip_rc=${PIPESTATUS[0]}
  set -e
  if [[ $pip_rc != 0 ]]; then
    log "pip install failed (exit $pip_rc); removing the half-built venv"; rm -rf "$VENV"; exit 1
  fi
  "$VENV/bin/python" -c "import airflow, sys; assert airflow.__version__ == '$AIRFLOW_VERSION', airflow.__version__" \
    || { log "Airflow $AIRFLOW_VERSION is not importable in the venv; see pip output above"; rm -rf "$VENV"; exit 1; }
  if [[ $RELOCK == 1 || ! -f "$LOCK" ]]; then
    { echo "# Resolved by tests/airflow/run.sh --relock with Python $PYVER on $(date -u +%Y-%m-%d)."
      echo "# Used as a pip constraints file for the Airflow test venv."
      "$VENV/bin/python" -m pip freeze --all | grep -vE '^(pip|setuptools|wheel)=='
    } > "$LOCK"
    log "wrote $LOCK ($(grep -vc '^#' "$LOCK") packages)"
  fi
  KEY="$(input_key)"
  echo "$KEY" > "$VENV/.spotflow-key"
  log "venv ready in $((SECONDS - start))s (key $KEY)"
fi

# A private AIRFLOW_HOME per run; the migrated SQLite DB is cached in the venv.
AIRFLOW_HOME="$(mktemp -d "${TMPDIR:-/tmp}/spotflow-airflow-home.XXXXXX")"
trap 'rm -rf "$AIRFLOW_HOME"' EXIT
export AIRFLOW_HOME
mkdir -p "$AIRFLOW_HOME/config" "$AIRFLOW_HOME/logs"
# The cluster policy is discovered the same way as in the image: Airflow puts
# $AIRFLOW_HOME/config on sys.path and imports airflow_local_settings from it.
ln -s "$REPO/docker/config/airflow_local_settings.py" "$AIRFLOW_HOME/config/airflow_local_settings.py"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$AIRFLOW_HOME/logs"
export SPOTFLOW_CHECKPOINT_DIR="$AIRFLOW_HOME/checkpoints"
export SPOTFLOW_REPO="$REPO"
export PYTHONDONTWRITEBYTECODE=1
export NO_PROXY="${NO_PROXY:-}${NO_PROXY:+,}127.0.0.1,localhost"

DB_TEMPLATE="$VENV/.spotflow-db/airflow.db"
if [[ ! -f "$DB_TEMPLATE" ]]; then
  log "migrating a fresh SQLite metadata DB (cached for later runs)"
  start=$SECONDS
  "$VENV/bin/airflow" db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 \
    || { cat "$AIRFLOW_HOME/db-migrate.log" >&2; log "airflow db migrate failed"; exit 1; }
  mkdir -p "$(dirname "$DB_TEMPLATE")"
  cp "$AIRFLOW_HOME/airflow.db" "$DB_TEMPLATE.tmp" && mv "$DB_TEMPLATE.tmp" "$DB_TEMPLATE"
  log "DB migrated in $((SECONDS - start))s"
else
  cp "$DB_TEMPLATE" "$AIRFLOW_HOME/airflow.db"
fi

log "running pytest in $HERE"
cd "$REPO"
set +e
# Default to this folder unless a test path (or node id) is given.
targets=("$HERE")
for a in "$@"; do
  if [[ "$a" == *::* || ( "$a" != -* && -e "$a" ) ]]; then targets=(); break; fi
done
"$VENV/bin/python" -m pytest -p no:cacheprovider --rootdir="$REPO" "${targets[@]}" "$@"
rc=$?
set -e
exit $rc
