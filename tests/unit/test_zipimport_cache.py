"""scripts/spotflow_zipimport_cache.py: what a module run imports from a zip is compiled once."""

from __future__ import annotations

import importlib.util
import marshal
import subprocess
import sys
import traceback
import zipfile
import zipimport
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SOURCE = b'''
def fail():
    def inner():
        raise RuntimeError("from the zip")
    inner()

VALUE = 42
'''


@pytest.fixture
def cache(tmp_path, monkeypatch):
    # the repository's file, not the copy bootstrap.sh installed into the venv
    spec = importlib.util.spec_from_file_location("zipimport_cache_under_test", REPO / "scripts/spotflow_zipimport_cache.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(zipimport, "_compile_source", mod.compile_source)
    return mod


def load(tmp_path: Path, run: str, source: bytes = SOURCE):
    """Import module `m` from a new zip, as AnsiballZ does from a new temporary directory per run."""
    path = tmp_path / run / "payload.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("m.py", source)
    spec = zipimport.zipimporter(str(path)).find_spec("m")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def compiled(monkeypatch, cache) -> list[str]:
    calls: list[str] = []
    original = cache._compile_source

    def counting(pathname, source):
        calls.append(pathname)
        return original(pathname, source)

    monkeypatch.setattr(cache, "_compile_source", counting)
    return calls


def test_second_run_loads_the_code_from_the_cache_under_its_own_file_name(tmp_path, monkeypatch, cache):
    calls = compiled(monkeypatch, cache)
    first, _ = load(tmp_path, "run1")
    assert len(calls) == 1 and Path(cache.cache_path(SOURCE)).is_file()

    second, path = load(tmp_path, "run2")
    assert len(calls) == 1, "the second run compiled again"
    assert second.VALUE == first.VALUE == 42
    # tracebacks name this run's file, down to nested functions, not the run that filled the cache
    with pytest.raises(RuntimeError) as err:
        second.fail()
    files = {frame.filename for frame in traceback.extract_tb(err.value.__traceback__)[1:]}
    assert files == {f"{path}/m.py"}


def test_changed_source_is_compiled_again(tmp_path, monkeypatch, cache):
    calls = compiled(monkeypatch, cache)
    load(tmp_path, "run1")
    changed, _ = load(tmp_path, "run2", SOURCE.replace(b"42", b"43"))
    assert changed.VALUE == 43
    assert len(calls) == 2


@pytest.mark.parametrize("corrupt", [b"\x00not marshal data", marshal.dumps(42)], ids=["garbage", "not code"])
def test_a_corrupt_entry_is_compiled_again_and_replaced(tmp_path, monkeypatch, cache, corrupt):
    calls = compiled(monkeypatch, cache)
    load(tmp_path, "run1")
    entry = Path(cache.cache_path(SOURCE))
    entry.write_bytes(corrupt)
    again, _ = load(tmp_path, "run2")
    assert again.VALUE == 42 and len(calls) == 2
    load(tmp_path, "run3")
    assert len(calls) == 2, "the corrupt entry was not replaced"
    assert not [p for p in entry.parent.iterdir() if p != entry], "a temporary file was left"


def test_an_unwritable_cache_only_costs_the_compile(tmp_path, monkeypatch, cache):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setattr(cache, "CACHE_DIR", str(blocker / "cache"))  # a directory under a file cannot be made
    module, _ = load(tmp_path, "run1")
    assert module.VALUE == 42


def test_cache_directories_are_private(tmp_path, cache):
    load(tmp_path, "run1")
    entry = Path(cache.cache_path(SOURCE))
    assert entry.parent.stat().st_mode & 0o077 == 0


def test_bootstrap_installed_it_into_this_venv():
    """A new Python of the venv (as a module run starts) routes zipimport through this file."""
    probe = "import zipimport, spotflow_zipimport_cache as c; print(zipimport._compile_source is c.compile_source, c.__file__)"
    routed, installed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert routed == "True"
    assert Path(installed).read_bytes() == (REPO / "scripts/spotflow_zipimport_cache.py").read_bytes(), "run make bootstrap"
