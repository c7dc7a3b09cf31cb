"""Every module of spotflow.eks documents exactly the options its argument_spec accepts.

The checks of ``ansible-test sanity --test validate-modules`` that matter most,
runnable without ansible-test's network bootstrap: the module's documentation
as ``ansible-doc`` renders it (doc fragments merged) against the argument spec
the module really passes to ``AnsibleModule`` (captured the way validate-modules
captures it, by stopping ``AnsibleModule.__init__``), option by option and
suboption by suboption: names, type, required, default, choices, aliases,
elements. Plus: EXAMPLES are YAML tasks using the module, RETURN renders, and
the check_mode attribute agrees with ``supports_check_mode``. A module that documents an action plugin
(no main()) is compared with the plugin's ARGUMENT_SPEC.

Modules are discovered from plugins/modules, so modules added later are covered.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import basic

REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "collections" / "ansible_collections" / "spotflow" / "eks"
MODULES = sorted(p.stem for p in (COLLECTION / "plugins" / "modules").glob("*.py") if not p.name.startswith("_"))


class _Captured(Exception):
    def __init__(self, kwargs):
        super().__init__("AnsibleModule created")
        self.kwargs = kwargs


def module_kwargs(name):
    """The keyword arguments the module's main() gives AnsibleModule.

    A module that is only the documentation of an action plugin of the same name (no main(): the work is done on
    the controller) has its argument spec in that plugin, as ARGUMENT_SPEC.
    """
    module = importlib.import_module("ansible_collections.spotflow.eks.plugins.modules.{0}".format(name))
    if not hasattr(module, "main"):
        # read, not imported: importing controller code (ansible.plugins.action) changes how modules report warnings
        tree = ast.parse((COLLECTION / "plugins" / "action" / "{0}.py".format(name)).read_text())
        assigned = {target.id: node.value for node in ast.walk(tree) if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
        return dict(argument_spec=ast.literal_eval(assigned["ARGUMENT_SPEC"]),
                    supports_check_mode=ast.literal_eval(assigned["_supports_check_mode"]))

    def capture(self, *args, **kwargs):
        if args:
            kwargs = dict(kwargs, argument_spec=args[0])
        raise _Captured(kwargs)

    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = capture
    try:
        module.main()
    except _Captured as captured:
        return captured.kwargs
    finally:
        basic.AnsibleModule.__init__ = original
    raise AssertionError("{0}.main() returned without creating an AnsibleModule".format(name))


def _ansible_doc(names):
    ansible_doc = Path(sys.executable).parent / "ansible-doc"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run([str(ansible_doc), "-t", "module", "--json"] + names, cwd=str(REPO), env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def docs():
    """``ansible-doc --json`` for every module, with doc fragments merged.

    One call for all modules; when it fails, one call per module, so that a
    broken DOCUMENTATION fails the tests of its own module only (the error is
    kept under the module's name as a string).
    """
    names = ["spotflow.eks.{0}".format(m) for m in MODULES]
    if not names:
        return {}
    proc = _ansible_doc(names)
    if proc.returncode == 0:
        return json.loads(proc.stdout)
    data = {}
    for name in names:
        one = _ansible_doc([name])
        data.update(json.loads(one.stdout) if one.returncode == 0 else {name: one.stderr.strip() or one.stdout})
    return data


def _doc_of(docs, name):
    entry = docs.get("spotflow.eks.{0}".format(name))
    assert entry, "ansible-doc returned nothing for spotflow.eks.{0}: broken DOCUMENTATION?".format(name)
    assert not isinstance(entry, str), "ansible-doc failed for spotflow.eks.{0}:\n{1}".format(name, entry)
    return entry


def _norm_list(value):
    if value is None:
        return None
    return sorted(str(v) for v in value)


def compare_options(spec, doc_options, path=""):
    """Differences between an argument spec and documented options, as strings."""
    problems = []
    doc_options = doc_options or {}
    for name in sorted(set(spec) - set(doc_options)):
        problems.append("{0}{1}: in argument_spec, not documented".format(path, name))
    for name in sorted(set(doc_options) - set(spec)):
        problems.append("{0}{1}: documented, not in argument_spec".format(path, name))
    for name in sorted(set(spec) & set(doc_options)):
        arg, doc = spec[name] or {}, doc_options[name] or {}
        where = "{0}{1}".format(path, name)
        arg_type = arg.get("type", "str")
        if callable(arg_type):
            arg_type = None  # a custom type function; validate-modules cannot compare it either
        if arg_type is not None and arg_type != doc.get("type", "str"):
            problems.append("{0}: type {1!r} in argument_spec, {2!r} documented".format(where, arg_type, doc.get("type", "str")))
        if bool(arg.get("required")) != bool(doc.get("required")):
            problems.append("{0}: required={1} in argument_spec, {2} documented".format(
                where, bool(arg.get("required")), bool(doc.get("required"))))
        for key, norm in (("default", None), ("choices", _norm_list), ("aliases", _norm_list), ("elements", None)):
            ours, theirs = arg.get(key), doc.get(key)
            if (norm(ours) != norm(theirs)) if norm else (ours != theirs):
                problems.append("{0}: {1} {2!r} in argument_spec, {3!r} documented".format(where, key, ours, theirs))
        if arg.get("options") or doc.get("suboptions"):
            problems.extend(compare_options(arg.get("options") or {}, doc.get("suboptions"), where + "."))
    return problems


@pytest.mark.parametrize("name", MODULES)
def test_argument_spec_matches_documentation(docs, name):
    kwargs = module_kwargs(name)
    documented = _doc_of(docs, name)["doc"].get("options")
    assert kwargs.get("argument_spec"), "spotflow.eks.{0}: empty argument_spec".format(name)
    problems = compare_options(kwargs.get("argument_spec") or {}, documented)
    assert not problems, "spotflow.eks.{0}:\n  ".format(name) + "\n  ".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_examples_are_tasks_using_the_module(docs, name):
    examples = _doc_of(docs, name).get("examples")
    assert examples and examples.strip(), "spotflow.eks.{0} has no EXAMPLES".format(name)
    tasks = yaml.safe_load(examples)
    assert isinstance(tasks, list) and tasks, "EXAMPLES of {0} must be a YAML list of tasks".format(name)
    fqcn = "spotflow.eks.{0}".format(name)
    text = json.dumps(tasks)
    assert '"{0}"'.format(fqcn) in text, "EXAMPLES of {0} never use {1} by its FQCN".format(name, fqcn)
    for task in tasks:
        assert isinstance(task, dict) and task.get("name"), "every example task needs a name: {0!r}".format(task)


@pytest.mark.parametrize("name", MODULES)
def test_return_documented(docs, name):
    entry = _doc_of(docs, name)
    assert "return" in entry, "spotflow.eks.{0}: RETURN missing".format(name)


@pytest.mark.parametrize("name", MODULES)
def test_check_mode_attribute_matches_supports_check_mode(docs, name):
    attributes = _doc_of(docs, name)["doc"].get("attributes") or {}
    assert "check_mode" in attributes, "spotflow.eks.{0}: attributes.check_mode missing".format(name)
    assert "diff_mode" in attributes, "spotflow.eks.{0}: attributes.diff_mode missing".format(name)
    supports = bool(module_kwargs(name).get("supports_check_mode"))
    declared = attributes["check_mode"].get("support") in ("full", "partial")
    assert supports == declared, "spotflow.eks.{0}: supports_check_mode={1} but attributes.check_mode.support={2!r}".format(
        name, supports, attributes["check_mode"].get("support"))


def test_compare_options_finds_differences():
    """The comparison itself catches what it claims to."""
    spec = dict(a=dict(type="int", default=1), b=dict(type="list", elements="dict", options=dict(c=dict(choices=["x", "y"]))),
                d=dict(aliases=["e"]), f=dict(required=True))
    doc = dict(a=dict(type="str", default=2), b=dict(type="list", elements="str", suboptions=dict(c=dict(choices=["x"]))),
               d=dict(), g=dict())
    problems = compare_options(spec, doc)
    assert "a: type 'int' in argument_spec, 'str' documented" in problems
    assert "a: default 1 in argument_spec, 2 documented" in problems
    assert "b: elements 'dict' in argument_spec, 'str' documented" in problems
    assert "b.c: choices ['x', 'y'] in argument_spec, ['x'] documented" in problems
    assert "d: aliases ['e'] in argument_spec, None documented" in problems
    assert "f: in argument_spec, not documented" in problems
    assert "g: documented, not in argument_spec" in problems
    assert compare_options(dict(a=dict(type="bool", default=False)), dict(a=dict(type="bool", default=False))) == []
