#!/usr/bin/env bash
# ansible-test sanity for the spotflow.eks collection, offline.
# ansible-test fills each sanity venv with pip by a bootstrap script it downloads
# from ci-files.testing.ansible.com (not reachable here); it uses a cached copy when
# there is one, so our offline stand-in (scripts/get-pip-offline.py) goes there first
# (a genuine cached script is left alone). Extra arguments go to ansible-test.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$repo/.venv}"
version="$("$venv/bin/python" -c '
import os, re, ansible_test
p = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip=.([0-9.]+).", open(p).read()).group(1))')"
cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
mkdir -p "$(dirname "$cache")"
[ -f "$cache" ] || cp "$repo/scripts/get-pip-offline.py" "$cache"
cd "$repo/collections/ansible_collections/spotflow/eks"
exec "$venv/bin/ansible-test" sanity --python 3.12 --local "$@"
