# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod placement logic for spotflow.eks.pod_placement_info. Pure: no Kubernetes imports.

Two parts:

* Kubernetes label selectors, parsed and matched the way the apiserver does
  (``k8s.io/apimachinery/pkg/labels``): ``key``, ``!key``, ``key=value``,
  ``key==value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
  ``key>1``, ``key<1``; requirements joined by commas are ANDed. Keys may
  carry a DNS prefix (``eks.amazonaws.com/capacityType``), which
  kubernetes.core's client-side selector does not accept in set-based form.
* Placement: which node pool every pod landed in, and which pods break the
  declared expectations.

Pods and nodes are plain dicts in the API's JSON form.
"""

from __future__ import annotations

import re

CAPACITY_TYPE_LABEL = "eks.amazonaws.com/capacityType"
NODEGROUP_LABEL = "eks.amazonaws.com/nodegroup"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
ZONE_LABEL = "topology.kubernetes.io/zone"

VIOLATION_KINDS = ("pending", "wrong_pool", "unmatched_node")

# ---------------------------------------------------------------- selectors

_NAME_RE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_SPECIAL = set("!=<>(),")


class SelectorError(ValueError):
    """A label selector that the apiserver would reject."""


def _check_key(key, text):
    prefix, slash, name = key.rpartition("/")
    if not slash:
        prefix, name = "", key
    if not name or len(name) > 63 or not _NAME_RE.match(name):
        raise SelectorError(
            "invalid label key {0!r} in selector {1!r}: the name part must be 1-63 characters, alphanumeric, "
            "'-', '_' or '.', starting and ending with an alphanumeric character".format(key, text)
        )
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN_RE.match(prefix)):
        raise SelectorError("invalid label key {0!r} in selector {1!r}: the prefix must be a DNS subdomain".format(key, text))


def _check_value(value, text):
    if len(value) > 63 or not _VALUE_RE.match(value):
        raise SelectorError(
            "invalid label value {0!r} in selector {1!r}: at most 63 characters, alphanumeric, '-', '_' or '.', "
            "starting and ending with an alphanumeric character".format(value, text)
        )


def _tokenize(text):
    tokens = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in _SPECIAL:
            two = text[i:i + 2]
            if two in ("==", "!="):
                tokens.append(two)
                i += 2
            else:
                tokens.append(ch)
                i += 1
        else:
            j = i
            while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
                j += 1
            tokens.append(("id", text[i:j]))
            i = j
    return tokens


class Requirement(object):
    """One requirement of a selector: ``key``, ``operator`` and ``values``.

    Operators: ``exists``, ``!exists``, ``=``, ``!=``, ``in``, ``notin``, ``gt``, ``lt``.
    """

    def __init__(self, key, operator, values=()):
        self.key = key
        self.operator = operator
        self.values = tuple(values)

    def __eq__(self, other):
        return isinstance(other, Requirement) and (self.key, self.operator, self.values) == (
            other.key, other.operator, other.values)

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((self.key, self.operator, self.values))

    def __repr__(self):
        return "Requirement({0!r}, {1!r}, {2!r})".format(self.key, self.operator, self.values)

    def matches(self, labels):
        labels = labels or {}
        present = self.key in labels
        value = labels.get(self.key)
        op = self.operator
        if op == "exists":
            return present
        if op == "!exists":
            return not present
        if op == "=":
            return present and value == self.values[0]
        if op == "!=":
            return not present or value != self.values[0]
        if op == "in":
            return present and value in self.values
        if op == "notin":
            return not present or value not in self.values
        if op in ("gt", "lt"):
            if not present:
                return False
            try:
                number = int(value)
            except (TypeError, ValueError):
                return False
            bound = int(self.values[0])
            return number > bound if op == "gt" else number < bound
        raise SelectorError("unknown operator {0!r}".format(op))


def parse_selector(text):
    """Parse one selector string into a list of :class:`Requirement` (ANDed).

    An empty string is the empty selector, which matches everything.
    Raises :class:`SelectorError` with the apiserver's rules spelled out.
    """
    if not isinstance(text, str):
        raise SelectorError("a label selector must be a string, got {0!r}".format(text))
    tokens = _tokenize(text)
    requirements = []
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def fail(why):
        raise SelectorError("invalid label selector {0!r}: {1}".format(text, why))

    def ident(tok, what):
        if not isinstance(tok, tuple):
            fail("expected {0}, found {1!r}".format(what, tok if tok is not None else "end of selector"))
        return tok[1]

    if not tokens:
        return requirements
    while True:
        tok = peek()
        pos += 1
        if tok == "!":
            key = ident(peek(), "a label key after '!'")
            pos += 1
            _check_key(key, text)
            requirements.append(Requirement(key, "!exists"))
        else:
            key = ident(tok, "a label key")
            _check_key(key, text)
            op = peek()
            if op is None or op == ",":
                requirements.append(Requirement(key, "exists"))
            elif op in ("=", "==", "!="):
                pos += 1
                nxt = peek()
                if nxt is None or nxt == ",":
                    value = ""
                else:
                    value = ident(nxt, "a value after {0!r}".format(op))
                    pos += 1
                _check_value(value, text)
                requirements.append(Requirement(key, "!=" if op == "!=" else "=", [value]))
            elif op in (">", "<"):
                pos += 1
                value = ident(peek(), "an integer after {0!r}".format(op))
                pos += 1
                try:
                    int(value)
                except ValueError:
                    fail("{0!r} needs an integer, got {1!r}".format(op, value))
                requirements.append(Requirement(key, "gt" if op == ">" else "lt", [value]))
            elif isinstance(op, tuple) and op[1] in ("in", "notin"):
                pos += 1
                if peek() != "(":
                    fail("expected '(' after {0!r}".format(op[1]))
                pos += 1
                values = []
                while True:
                    nxt = peek()
                    if nxt is None:
                        fail("missing ')'")
                    if nxt in (",", ")"):
                        value = ""
                    else:
                        value = ident(nxt, "a value")
                        pos += 1
                        nxt = peek()
                    _check_value(value, text)
                    values.append(value)
                    if nxt == ",":
                        pos += 1
                        continue
                    if nxt == ")":
                        pos += 1
                        break
                    if nxt is None:
                        fail("missing ')'")
                    fail("expected ',' or ')' in the value list, found {0!r}".format(nxt[1] if isinstance(nxt, tuple) else nxt))
                requirements.append(Requirement(key, op[1], sorted(set(values))))
            else:
                fail("expected an operator (=, ==, !=, in, notin, >, <) or ',' after {0!r}".format(key))
        nxt = peek()
        if nxt is None:
            return requirements
        if nxt != ",":
            fail("expected ',' between requirements, found {0!r}".format(nxt[1] if isinstance(nxt, tuple) else nxt))
        pos += 1
        if peek() is None:
            fail("trailing ','")


def parse_selectors(selectors):
    """Parse a list of selector strings (kubernetes.core's ``label_selectors``); all are ANDed."""
    requirements = []
    for text in selectors or []:
        requirements.extend(parse_selector(text))
    return requirements


def matches(requirements, labels):
    """True when ``labels`` (a dict, may be None) satisfies every requirement."""
    return all(req.matches(labels or {}) for req in requirements)


# ---------------------------------------------------------------- placement

def _labels(obj):
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def _name(obj):
    return ((obj or {}).get("metadata") or {}).get("name")


def pod_key(pod):
    """``namespace/name``."""
    meta = pod.get("metadata") or {}
    return "{0}/{1}".format(meta.get("namespace"), meta.get("name"))


def pending_reason(pod):
    """Why a pod has no node, from its PodScheduled condition (``Reason: message``)."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") != "True":
            reason = condition.get("reason") or "NotScheduled"
            message = condition.get("message")
            return "{0}: {1}".format(reason, message) if message else reason
    return "not scheduled yet (no PodScheduled condition)"


def node_pool(labels, pools):
    """The name of the first pool whose requirements ``labels`` satisfy, else None.

    ``pools``: ordered list of ``(name, requirements)``.
    """
    for name, requirements in pools:
        if matches(requirements, labels):
            return name
    return None


def expected_pool(labels, rules):
    """The pool the first matching rule expects for a pod with ``labels``, else None.

    ``rules``: ordered list of ``(requirements, pool_name)``.
    """
    for requirements, pool in rules:
        if matches(requirements, labels):
            return pool
    return None


def classify(pods, nodes, pools, rules):
    """Where every pod runs, per-pool summary, violations and counts.

    ``pods`` / ``nodes``: API dicts. ``pools``: ordered ``(name, requirements)``.
    ``rules``: ordered ``(requirements, pool_name)``; the first rule whose
    selector matches a pod's labels says which pool it must run in.

    Violations: ``pending`` (any selected pod without a node), ``wrong_pool``
    (an expected pod on a node of another pool) and ``unmatched_node`` (an
    expected pod on a node in no pool, or on a node that no longer exists).
    """
    node_by_name = {}
    pool_nodes = dict((name, []) for name, _req in pools)
    for node in nodes:
        name = _name(node)
        node_by_name[name] = node
        pool = node_pool(_labels(node), pools)
        if pool is not None:
            pool_nodes[pool].append(name)

    out_pods = []
    violations = []
    pool_pods = dict((name, []) for name, _req in pools)
    unpooled = 0
    for pod in sorted(pods, key=lambda p: ((p.get("metadata") or {}).get("namespace") or "", _name(p) or "")):
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        node_name = (pod.get("spec") or {}).get("nodeName") or None
        node = node_by_name.get(node_name) if node_name else None
        node_labels = _labels(node)
        pool = node_pool(node_labels, pools) if node is not None else None
        expect = expected_pool(labels, rules)
        entry = dict(
            name=meta.get("name"),
            namespace=meta.get("namespace"),
            phase=(pod.get("status") or {}).get("phase"),
            node=node_name,
            pool=pool,
            expected_pool=expect,
            capacity_type=node_labels.get(CAPACITY_TYPE_LABEL),
            instance_type=node_labels.get(INSTANCE_TYPE_LABEL),
            zone=node_labels.get(ZONE_LABEL),
            nodegroup=node_labels.get(NODEGROUP_LABEL),
            labels=labels,
        )
        out_pods.append(entry)

        violation = None
        if not node_name:
            violation = dict(kind="pending", reason=pending_reason(pod))
        elif pool is not None:
            pool_pods[pool].append(pod_key(pod))
            if expect is not None and pool != expect:
                violation = dict(
                    kind="wrong_pool",
                    reason="runs on node {0!r} in pool {1!r}, expected pool {2!r}".format(node_name, pool, expect),
                )
        else:
            unpooled += 1
            if expect is not None:
                if node is None:
                    why = "runs on node {0!r}, which does not exist (any more)".format(node_name)
                else:
                    why = "runs on node {0!r}, which is in no pool".format(node_name)
                violation = dict(kind="unmatched_node", reason="{0}, expected pool {1!r}".format(why, expect))
        if violation is not None:
            violation.update(
                pod=entry["name"],
                namespace=entry["namespace"],
                expected_pool=expect,
                actual_pool=pool,
                node=node_name,
            )
            violations.append(violation)

    pool_summary = {}
    for name, _req in pools:
        pool_summary[name] = dict(
            nodes=sorted(pool_nodes[name]),
            pods=len(pool_pods[name]),
            pod_names=pool_pods[name],
        )
    scheduled = sum(1 for p in out_pods if p["node"])
    by_kind = dict((kind, 0) for kind in VIOLATION_KINDS)
    for violation in violations:
        by_kind[violation["kind"]] += 1
    summary = dict(
        pods=len(out_pods),
        scheduled=scheduled,
        pending=len(out_pods) - scheduled,
        unpooled=unpooled,
        by_pool=dict((name, pool_summary[name]["pods"]) for name in pool_summary),
        violations=len(violations),
        violations_by_kind=by_kind,
    )
    return dict(pods=out_pods, pools=pool_summary, violations=violations, summary=summary)


def format_violation(violation):
    """One line for a failure message: ``ns/pod: kind (reason)``."""
    return "{0}/{1}: {2} ({3})".format(violation["namespace"], violation["pod"], violation["kind"], violation["reason"])
