"""Offline stand-in for ansible-test's pip bootstrap script.

ansible-test sanity makes a venv per test and fills it with pip by running
get-pip-<version>.py, which it downloads from ci-files.testing.ansible.com (not
reachable here; PyPI is). It reads the script from ~/.ansible/test/cache when
present, so `make sanity` puts this one there: pip from the interpreter's own
ensurepip, then the pip version ansible-test asked for from the package index.
ansible-test runs pip with PIP_CONFIG_FILE=/dev/null, so a CA bundle set in
pip.conf is not seen: the system bundle is passed here (pip 25 itself then
trusts the system store).
"""

import ensurepip
import os
import subprocess
import sys

BUNDLES = [os.environ.get("SSL_CERT_FILE", ""), "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]

# get-pip.py options that pip install does not know
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap(upgrade=True)
cert = next((["--cert", b] for b in BUNDLES if b and os.path.isfile(b)), [])
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *cert, *args])
