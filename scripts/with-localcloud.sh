#!/usr/bin/env bash
# Run a command with the local cloud's environment (endpoints, credentials,
# kubeconfig) exported: what `python -m localcloud env` prints.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$ROOT/.venv/bin/python" -m localcloud env)"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
exec "$@"
