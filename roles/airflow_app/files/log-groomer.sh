#!/usr/bin/env bash
# Log groomer of the airflow_app role: a sidecar of the scheduler (task logs)
# and of the dag-processor (its own logs), as the official Helm chart's
# scheduler/dag-processor log groomers (the image's /clean-logs), adapted to
# Spotflow's logs volume: one EFS volume shared by every pod, so each groomer
# grooms its own part of it and leaves the other's alone.
#
# Every AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES it deletes the *.log files under
# SPOTFLOW_LOG_GROOMER_DIR last modified more than AIRFLOW__LOG_RETENTION_DAYS
# days ago (other files, e.g. the example DAG's checkpoints, are kept), then the
# folders that are empty and untouched for an hour (a task may be about to
# write into a folder just made). SPOTFLOW_LOG_GROOMER_SKIP names a folder
# right under the directory that is not groomed here (another groomer's);
# lost+found is never entered. SPOTFLOW_LOG_GROOMER_ONCE=1: one pass, then exit.
set -euo pipefail

readonly DIR="${SPOTFLOW_LOG_GROOMER_DIR:?SPOTFLOW_LOG_GROOMER_DIR must name the folder to groom}"
readonly RETENTION_DAYS="${AIRFLOW__LOG_RETENTION_DAYS:-15}"
readonly FREQUENCY_MINUTES="${AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES:-15}"
readonly SKIP="${SPOTFLOW_LOG_GROOMER_SKIP:-}"
readonly ONCE="${SPOTFLOW_LOG_GROOMER_ONCE:-0}"
readonly EMPTY_DIR_MINUTES=60

for n in "$RETENTION_DAYS" "$FREQUENCY_MINUTES"; do
  [[ "$n" =~ ^[0-9]+$ ]] || { echo "log-groomer: '$n' is not a whole number" >&2; exit 2; }
done
(( FREQUENCY_MINUTES > 0 )) || { echo "log-groomer: the cleanup frequency must be > 0 minutes" >&2; exit 2; }
[[ "$SKIP" != */* ]] || { echo "log-groomer: SPOTFLOW_LOG_GROOMER_SKIP must be a folder name, not a path" >&2; exit 2; }

# SIGTERM ends the wait at once (the sleep runs in the background).
trap 'exit 0' INT TERM

prune=(-name lost+found)
[[ -n "$SKIP" ]] && prune+=(-o -path "$DIR/$SKIP")

# -delete would imply -depth, which disables -prune: find lists, xargs deletes
# (streamed: a first pass over months of logs must not fill the memory).
groom() {
  [[ -d "$DIR" ]] || { echo "log-groomer: $DIR does not exist (yet)"; return 0; }
  local files dirs
  files=$(find "$DIR" -mindepth 1 -type d \( "${prune[@]}" \) -prune -o \
            -type f -name '*.log' -mmin +"$(( RETENTION_DAYS * 1440 ))" -print0 2>/dev/null \
          | xargs -0 -r rm -fv -- | wc -l) || true
  dirs=$(find "$DIR" -mindepth 1 -type d \( "${prune[@]}" \) -prune -o \
           -type d -empty -mmin +"$EMPTY_DIR_MINUTES" -print0 2>/dev/null \
         | xargs -0 -r rmdir -v --ignore-fail-on-non-empty -- 2>/dev/null | wc -l) || true
  echo "log-groomer: $DIR: deleted ${files:-0} log file(s) older than ${RETENTION_DAYS} day(s), ${dirs:-0} empty folder(s)"
}

echo "log-groomer: grooming $DIR${SKIP:+ (not $SKIP/)} every ${FREQUENCY_MINUTES} min, keeping ${RETENTION_DAYS} day(s) of *.log"
while true; do
  groom
  [[ "$ONCE" == 1 ]] && exit 0
  sleep "$(( FREQUENCY_MINUTES * 60 ))" &
  wait $!
done
