"""A bytecode cache for Python source imported from zip files: Ansible's module runs.

Every module run of Ansible is a new Python process that imports the module and its module_utils
from a zip (AnsiballZ). Python's zipimport neither reads nor writes ``__pycache__``: it compiles
each imported file from source on every run. In a no-op of site.yml that compiling was 15 s of the
module processes' 40 s of CPU (py-spy, docs/design.md); ``ansible.module_utils.basic`` alone takes
about 0.1 s to compile, the amazon.aws and kubernetes.core module_utils more.

scripts/bootstrap.sh installs this file into the venv's site-packages with a ``.pth`` file that
imports it, so every Python of the venv (the one that runs the modules: the inventories'
``ansible_python_interpreter`` is the playbook's) keeps what it compiles from a zip under
``~/.cache/spotflow/zipimport-pyc`` (``$XDG_CACHE_HOME`` if set), keyed by the source itself, and
loads it from there the next time. Imports from directories are not touched: they have
``__pycache__``.

- The key is a SHA-256 of the interpreter's bytecode magic number, its optimisation level and the
  source, so a changed file, another Python or ``-O`` never meets stale code. The path is not in
  the key (AnsiballZ unpacks to a new temporary directory on every run): a cached code object gets
  the file name of this import, as importlib does for a ``.pyc`` that moved.
- Writes go to a temporary file renamed into place, so module runs in parallel (forks) never read
  half a file. An unreadable or corrupt entry is compiled again; a cache that cannot be written
  only costs the compile, as before.
- The cache holds code this user's Python runs: each entry is written 0600 and its directory
  (``zipimport-pyc/<xx>/``) made 0700; the directories above get the umask's mode. A process killed
  between writing and renaming leaves a ``<key>.<pid>.tmp`` file, never read.
- To turn it off, remove ``spotflow_zipimport_cache.pth`` from the venv's site-packages.
"""

from __future__ import annotations

# Every Python of the venv imports this at start-up: only what start-up has loaded anyway, the rest
# when a zip is imported from.
import os
import sys
import zipimport

CACHE_DIR = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "spotflow", "zipimport-pyc")

_compile_source = getattr(zipimport, "_compile_source", None)  # a private function of Python 3.12's zipimport


def cache_path(source: bytes) -> str:
    """Where the code compiled from ``source`` is kept."""
    import hashlib
    from importlib.util import MAGIC_NUMBER

    key = hashlib.sha256(MAGIC_NUMBER + bytes([sys.flags.optimize]) + source).hexdigest()
    return os.path.join(CACHE_DIR, key[:2], key)


def compile_source(pathname: str, source: bytes):
    """zipimport's ``_compile_source``, through the cache."""
    import _imp
    import marshal
    import types

    path = cache_path(source)
    try:
        with open(path, "rb") as f:
            code = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        code = None
    if not isinstance(code, types.CodeType):  # missing, or not code: compile (again)
        code = _compile_source(pathname, source)
        _store(path, code)
        return code
    _imp._fix_co_filename(code, pathname)
    return code


def _store(path: str, code) -> None:
    import marshal

    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(marshal.dumps(code))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def install() -> None:
    """Route zipimport's compiling through the cache (the ``.pth`` file calls this at start-up)."""
    if callable(_compile_source):  # elsewhere, imports from zips simply stay uncached
        zipimport._compile_source = compile_source
