"""The spot_nodegroup role's filters: node template tags, tolerations, the published fact."""

from __future__ import annotations

import importlib.util

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "spot_nodegroup_filters", REPO / "roles" / "spot_nodegroup" / "filter_plugins" / "spot_nodegroup.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)

P = "k8s.io/cluster-autoscaler/node-template/"
TAINTS = [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"},
          {"key": "dedicated", "value": "", "effect": "NoSchedule"}]
GROUP = {"labels": {"lifecycle": "Ec2Spot"}, "taints": TAINTS, "autoscaler_resources": {"ephemeral-storage": "50Gi"},
         "instance_types": ["m5.xlarge", "m5a.xlarge"], "min_size": 0, "max_size": 10}


def test_template_tags_tell_the_autoscaler_labels_taints_and_resources():
    assert f.spot_nodegroup_template_tags(GROUP, "spot-a", P) == {
        P + "label/lifecycle": "Ec2Spot",
        P + "label/eks.amazonaws.com/capacityType": "SPOT",
        P + "label/eks.amazonaws.com/nodegroup": "spot-a",
        P + "taint/spotInstance": "true:PreferNoSchedule",
        P + "taint/dedicated": ":NoSchedule",
        P + "resources/ephemeral-storage": "50Gi",
    }


def test_tolerations_are_distinct_equal_or_exists():
    assert f.spot_nodegroup_tolerations(TAINTS + TAINTS[:1]) == [
        {"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "PreferNoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]


def test_published_nodegroups():
    assert f.spot_nodegroup_published([{"name": "spot-a", "group": GROUP, "asg_name": "eks-spot-a-1"}]) == [{
        "name": "spot-a", "capacity_type": "SPOT", "instance_types": ["m5.xlarge", "m5a.xlarge"],
        "labels": {"lifecycle": "Ec2Spot"}, "taints": TAINTS, "asg_name": "eks-spot-a-1", "min": 0, "max": 10}]


# -- tasks/validate.yml --------------------------------------------------------------------------------

SETTINGS = {"region": "us-east-1", "cluster_name": "spotflow", "groups": [{"name": "g"}],
            "memory_tolerance_percent": 0, "wait_timeout": 1200}
GLOBAL = {"labels": {}, "taints": [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}],
          "min_size": 0, "max_size": 10, "desired_size": 2, "ami_type": "AL2023_x86_64_STANDARD", "disk_size": 50,
          "max_unavailable_percentage": 33, "autoscaler_resources": {}}
LIFECYCLE = {"lifecycle": "Ec2Spot"}
OWNER = {"spotflow:cluster": "c1", "spotflow:component": "spot_nodegroup"}


def normalised(groups, **overrides):
    return f.spot_nodegroup_normalised(groups, LIFECYCLE, **dict(GLOBAL, **overrides))


def one(group=None, **overrides):
    return normalised([dict({"name": "g", "instance_types": ["m5.xlarge"]}, **(group or {}))], **overrides)[0]


def test_settings_fine():
    assert f.spot_nodegroup_settings_errors("present", **SETTINGS) == []
    # | int: "12.5" is 12, "abc" is 0; absent needs no groups
    assert f.spot_nodegroup_settings_errors("absent", **dict(SETTINGS, groups=None, memory_tolerance_percent="abc",
                                                              wait_timeout="12.5")) == []


def test_settings_errors_name_the_variable_and_what_it_got():
    assert f.spot_nodegroup_settings_errors("present", region="", cluster_name=None, groups=[],
                                            memory_tolerance_percent=101, wait_timeout="0") == [
        'spot_nodegroup_region (default: spotflow_region) must be set to an AWS region, got ""',
        'spot_nodegroup_cluster_name (default: spotflow_cluster_name) must be set to the EKS cluster name, got "None"',
        "spot_nodegroup_groups must list at least one node group when spot_nodegroup_state is present",
        "spot_nodegroup_memory_tolerance_percent must be between 0 and 100, got 101",
        "spot_nodegroup_wait_timeout must be > 0 (seconds), got 0",
    ]
    assert f.spot_nodegroup_settings_errors("present", **dict(SETTINGS, memory_tolerance_percent="-1", wait_timeout=-5)) == [
        "spot_nodegroup_memory_tolerance_percent must be between 0 and 100, got -1",
        "spot_nodegroup_wait_timeout must be > 0 (seconds), got -5"]


def test_normalised_fills_in_the_global_defaults():
    assert normalised([{"name": "g", "instance_types": ["m5.xlarge", "m6i.xlarge"]}],
                      labels={"team": "data"}, autoscaler_resources={"ephemeral-storage": "50Gi"}) == [{
        "index": 0,
        "where": "spot_nodegroup_groups[0]",
        "name": "g",
        "instance_types": ["m5.xlarge", "m6i.xlarge"],
        "min_size": 0, "max_size": 10, "desired_size": 2,
        "user_labels": {"team": "data"},
        "labels": {"team": "data", "lifecycle": "Ec2Spot"},
        "taints": [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}],
        "taint_checks": [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule",
                          "raw_effect": "PreferNoSchedule", "where": "spot_nodegroup_taints[0]"}],
        "subnet_ids": None,
        "ami_type": "AL2023_x86_64_STANDARD",
        "disk_size": 50,
        "max_unavailable_percentage": 33,
        "autoscaler_resources": {"ephemeral-storage": "50Gi"},
    }]


def test_normalised_group_settings_win_and_values_become_strings():
    g = normalised([{"name": "a", "instance_types": ["m5.xlarge"]},
                    {"name": "b", "instance_types": ["m5.xlarge"], "min_size": "1", "max_size": "7.9", "desired_size": None,
                     "labels": {"team": "ml", 7: True, "off": False, "empty": None, "n": 5}, "subnet_ids": ["subnet-1"],
                     "ami_type": "", "disk_size": "30", "max_unavailable_percentage": 0, "autoscaler_resources": {"gpu": 1},
                     "taints": [{"key": "dedicated", "value": False, "effect": "NO_SCHEDULE"},
                                {"key": "x", "effect": "NoExecute"},
                                {"key": "y", "value": 3, "effect": "Sometimes"}]}],
                   labels={"team": "data", "tier": "1"})[1]
    assert g["where"] == "spot_nodegroup_groups[1]"
    assert (g["min_size"], g["max_size"], g["desired_size"], g["disk_size"], g["max_unavailable_percentage"]) == (1, 7, 2, 30, 0)
    assert g["user_labels"] == {"team": "ml", "tier": "1", "7": "true", "off": "false", "empty": "", "n": "5"}
    assert g["labels"] == dict(g["user_labels"], lifecycle="Ec2Spot")
    assert (g["subnet_ids"], g["ami_type"], g["autoscaler_resources"]) == (["subnet-1"], "AL2023_x86_64_STANDARD", {"gpu": 1})
    # a taint without a value is a taint with value "" (the Jinja this replaces failed on it)
    assert g["taints"] == [{"key": "dedicated", "value": "false", "effect": "NoSchedule"},
                           {"key": "x", "value": "", "effect": "NoExecute"},
                           {"key": "y", "value": "3", "effect": ""}]
    assert [(t["raw_effect"], t["where"]) for t in g["taint_checks"]] == [
        ("NO_SCHEDULE", "spot_nodegroup_groups[1].taints[0]"), ("NoExecute", "spot_nodegroup_groups[1].taints[1]"),
        ("Sometimes", "spot_nodegroup_groups[1].taints[2]")]


def test_normalised_empty_taints_of_a_group_replace_the_global_ones():
    assert one({"taints": []})["taints"] == []
    assert one({"taints": None})["taints"] == GLOBAL["taints"]
    assert normalised(None) == []


def test_duplicates_each_once_in_order():
    assert f.spot_nodegroup_duplicates(["g", "h", "g", "i", "h", "g"]) == ["g", "h"]
    assert f.spot_nodegroup_duplicates(["g", "h"]) == []


def test_group_fine():
    assert f.spot_nodegroup_group_errors(one(), "present") == []
    assert f.spot_nodegroup_group_errors(one({"min_size": 0, "max_size": 1, "desired_size": 1, "disk_size": 20,
                                              "max_unavailable_percentage": 100}), "present") == []


def test_group_name():
    assert f.spot_nodegroup_group_errors(one({"name": "spot workers"}), "absent") == [
        "spot_nodegroup_groups[0].name must be 1-63 letters, digits, - or _ (starting with a letter or digit), "
        'got "spot workers"']
    assert f.spot_nodegroup_group_errors(one({"name": "a" * 63}), "present") == []
    assert len(f.spot_nodegroup_group_errors(one({"name": "a" * 64}), "present")) == 1


def test_group_instance_types_and_sizes():
    w = "spot_nodegroup_groups[0]"
    assert f.spot_nodegroup_group_errors(one({"instance_types": []}), "present") == [
        w + ".instance_types must list at least one instance type"]
    # like | unique, without case
    assert f.spot_nodegroup_group_errors(one({"instance_types": ["m5.xlarge", "M5.xlarge"]}), "present") == [
        w + ".instance_types lists a type more than once: m5.xlarge, M5.xlarge"]
    types = ["t3.large", "t3a.large"] + ["m5.x%d" % i for i in range(19)]
    assert f.spot_nodegroup_group_errors(one({"instance_types": types[:20]}), "present") == []
    assert f.spot_nodegroup_group_errors(one({"instance_types": types}), "present") == [
        w + ".instance_types may list at most 20 types (EKS), got 21"]
    assert f.spot_nodegroup_group_errors(one({"min_size": -1, "max_size": 0, "desired_size": 5, "disk_size": 19,
                                              "max_unavailable_percentage": 101}), "present") == [
        w + ".min_size (or spot_nodegroup_min_size) must be >= 0, got -1",
        w + ".max_size (or spot_nodegroup_max_size) must be >= 1, got 0",
        w + ".desired_size must be between min_size and max_size (-1..0), got 5",
        w + ".disk_size (or spot_nodegroup_disk_size) must be >= 20 (GiB), got 19",
        w + ".max_unavailable_percentage (or spot_nodegroup_max_unavailable_percentage) must be 1-100, or 0 for the EKS "
            "default, got 101",
    ]
    assert f.spot_nodegroup_group_errors(one({"min_size": 5, "max_size": 2, "desired_size": 3}), "present") == [
        w + ".min_size must be <= max_size, got min_size=5 > max_size=2",
        w + ".desired_size must be between min_size and max_size (5..2), got 3"]
    # state absent: only the name
    assert f.spot_nodegroup_group_errors(one({"instance_types": [], "min_size": 5, "max_size": 2}), "absent") == []


def test_labels_fine():
    labels = {"team": "data", "node.kubernetes.io/pool": "a", "x.node.kubernetes.io/y": "b", "example.com/k": "",
              "lifecycle": "Ec2Spot", "k" * 63: "v" * 63}
    assert f.spot_nodegroup_label_errors(one(labels=labels), LIFECYCLE, P) == []


def test_label_errors_name_the_key_and_what_is_allowed():
    w = "spot_nodegroup_groups[0].labels (with spot_nodegroup_labels)"
    # valid keys of 82 and 83 characters: tag keys of 128 (fits) and 129
    fits, long_key = "a" * 18 + "/" + "k" * 63, "a" * 19 + "/" + "k" * 63
    assert f.spot_nodegroup_label_errors(one(labels={fits: "v"}), LIFECYCLE, P) == []
    assert f.spot_nodegroup_label_errors(one(labels={"bad key!": "x", "eks.amazonaws.com/capacityType": "ON_DEMAND",
                                                     "team": "bad value!", "lifecycle": "OnDemand"}), LIFECYCLE, P) == [
        w + ': label key "bad key!" is not a valid Kubernetes label key ([prefix/]name, name at most 63 characters of '
            "letters, digits, - _ ., alphanumeric at both ends)",
        w + ': label key "eks.amazonaws.com/capacityType" uses a reserved prefix (kubernetes.io, k8s.io, eks.amazonaws.com; '
            "only node.kubernetes.io/ and kubelet.kubernetes.io/ are allowed)",
        w + ': value of label team must be at most 63 letters, digits, - _ . (alphanumeric at both ends), got "bad value!"',
        w + ': label lifecycle is always Ec2Spot on Spot nodes (airflow_app selects workers by it), got "OnDemand"',
    ]
    assert f.spot_nodegroup_label_errors(one(labels={long_key: "v"}), LIFECYCLE, P) == [
        w + ": label key " + long_key + " is too long for its cluster-autoscaler node-template tag (at most 82 characters)"]
    assert f.spot_nodegroup_label_errors(one(labels={"foo.k8s.io/a": "v"}), LIFECYCLE, P) == [
        w + ': label key "foo.k8s.io/a" uses a reserved prefix (kubernetes.io, k8s.io, eks.amazonaws.com; '
            "only node.kubernetes.io/ and kubelet.kubernetes.io/ are allowed)"]

    # what NodeRestriction lets a kubelet set on itself, and what it does not
    assert f.spot_nodegroup_label_errors(one(labels={"kubelet.kubernetes.io/pool": "a", "node.kubernetes.io/pool": "b"}),
                                         LIFECYCLE, P) == []
    assert len(f.spot_nodegroup_label_errors(one(labels={"node-restriction.kubernetes.io/pool": "a"}), LIFECYCLE, P)) == 1


def test_a_trailing_newline_is_not_a_valid_value():
    assert f.matches(f.NAME_REGEX, "spot") and not f.matches(f.NAME_REGEX, "spot\n")
    assert f.spot_nodegroup_label_errors(one(labels={"team": "data\n"}), LIFECYCLE, P) != []


def test_taints_fine():
    assert f.spot_nodegroup_taint_errors(one(), P, OWNER, {"team": "data"}) == []


def test_taint_errors_name_the_taint_and_what_is_allowed():
    long_key = "example.com/" + "k" * 63
    taints = [{"key": "k", "value": "v", "effect": "Sometimes"}, {"key": "bad key", "value": "bad value!", "effect": ""},
              {"key": "k", "value": "w", "effect": "NoSchedule"}, {"key": "p." * 10 + long_key, "effect": "NoSchedule"}]
    w = "spot_nodegroup_taints"
    assert f.spot_nodegroup_taint_errors(one(taints=taints), P, OWNER, None) == [
        w + "[0].effect must be NoSchedule, PreferNoSchedule or NoExecute (EKS spelling NO_SCHEDULE, PREFER_NO_SCHEDULE, "
            'NO_EXECUTE is accepted too), got "Sometimes"',
        w + "[1].effect must be NoSchedule, PreferNoSchedule or NoExecute (EKS spelling NO_SCHEDULE, PREFER_NO_SCHEDULE, "
            'NO_EXECUTE is accepted too), got ""',
        w + '[1].key must be a valid Kubernetes taint key ([prefix/]name, name at most 63 characters), got "bad key"',
        w + '[1].value must be at most 63 letters, digits, - _ . (alphanumeric at both ends), got "bad value!"',
        w + "[2].key k is used twice in spot_nodegroup_groups[0]: the cluster-autoscaler node-template tag holds one "
            "effect per key",
        w + "[3].key is too long for its cluster-autoscaler node-template tag: " + "p." * 10 + long_key,
    ]


def test_taint_and_tag_limits():
    many = one({"taints": [{"key": "t%d" % i, "effect": "NoSchedule"} for i in range(51)]})
    assert f.spot_nodegroup_taint_errors(many, P, OWNER, {}) == [
        "spot_nodegroup_groups[0] may have at most 50 taints (EKS), got 51",
        "spot_nodegroup_groups[0]: labels, taints, autoscaler_resources and spot_nodegroup_tags need 55 Auto Scaling "
        "group tags, at most 45 fit"]
    # 40 labels + lifecycle + 1 taint + 1 resource + 1 + 2 owner tags (one of spot_nodegroup_tags overrides one) = 46
    labels = dict(("l%d" % i, "v") for i in range(40))
    group = one(labels=labels, autoscaler_resources={"r": "1"})
    assert f.spot_nodegroup_taint_errors(group, P, OWNER, {"spotflow:component": "x"}) == [
        "spot_nodegroup_groups[0]: labels, taints, autoscaler_resources and spot_nodegroup_tags need 46 Auto Scaling "
        "group tags, at most 45 fit"]
    assert f.spot_nodegroup_taint_errors(one(labels=labels), P, OWNER, None) == []


# -- tasks/present.yml, tasks/delete.yml ----------------------------------------------------------------

def _item(name, i):
    return {"name": name, "where": "spot_nodegroup_groups[%d]" % i}


def test_plan_errors():
    results = [
        {"skipped": True, "item": _item("skipped", 0), "replacements": [{"field": "x", "current": 1, "desired": 2}]},
        {"item": _item("new", 1), "diff": {"before": {}, "after": {"name": "new"}}, "nodegroup": None},
        {"item": _item("foreign", 2), "diff": {"before": {"tags": {"owner": "x"}}}},
        {"item": _item("repl", 3), "diff": {"before": {"tags": dict(OWNER, extra="1")}},
         "replacements": [{"field": "instance_types", "current": ["m5.xlarge"], "desired": ["m5.2xlarge"]},
                          {"field": "ami_type", "current": None, "desired": "AL2023_ARM_64_STANDARD"}]},
        {"item": _item("other-cluster", 4), "nodegroup": {"tags": dict(OWNER, **{"spotflow:cluster": "c2"})},
         "replacements": [{"field": "subnets", "current": ["a"], "desired": ["b"]}]},
        {"item": _item("failed", 5), "diff": {"before": {"tags": OWNER}}, "failed": True, "msg": "boom"},
        {"item": _item("failed-no-msg", 6), "failed": True},
        {"item": _item("fine", 7), "diff": None, "failed": False, "msg": "ok"},
    ]
    not_ours = (": it is not managed by spot_nodegroup, refusing to change it (use another name)")
    tags = ' without the tags {"spotflow:cluster": "c1", "spotflow:component": "spot_nodegroup"}'
    assert f.spot_nodegroup_plan_errors(results, "c1", OWNER) == [
        "node group foreign (spot_nodegroup_groups[2]) exists in cluster c1" + tags + not_ours,
        'node group repl (spot_nodegroup_groups[3]) needs a replacement, EKS cannot change in place instance_types: '
        '["m5.xlarge"] -> ["m5.2xlarge"], ami_type: null -> "AL2023_ARM_64_STANDARD". Set spot_nodegroup_replace_on_change: '
        "true to delete and recreate it (its nodes go away for some minutes), or give the group a new name (created first; "
        "the old one is pruned)",
        "node group other-cluster (spot_nodegroup_groups[4]) exists in cluster c1" + tags + not_ours,
        "node group failed (spot_nodegroup_groups[5]): boom",
        "node group failed-no-msg (spot_nodegroup_groups[6]): planning failed",
    ]
    assert f.spot_nodegroup_plan_errors(None, "c1", OWNER) == []


def test_to_check_leaves_out_only_the_groups_that_exist_as_wanted():
    groups = [{"name": n} for n in ("same", "new", "changed", "failed", "skipped", "no-diff")]
    same = {"name": "same", "instance_types": ["m5.xlarge"]}
    planned = [
        {"item": groups[0], "changed": False, "diff": {"before": same, "after": dict(same)}},
        {"item": groups[1], "changed": False, "diff": {"before": {}, "after": {"name": "new"}}},
        {"item": groups[2], "changed": False, "diff": {"before": same, "after": dict(same, instance_types=["m5.2xlarge"])}},
        {"item": groups[3], "failed": True, "diff": {"before": same, "after": same}, "msg": "boom"},
        {"item": groups[4], "skipped": True},
        {"item": groups[5], "changed": False},
    ]
    assert [g["name"] for g in f.spot_nodegroup_to_check(groups, planned)] == [
        "new", "changed", "failed", "skipped", "no-diff"]
    # no plan (no node role yet), or not one result per group: every group
    assert f.spot_nodegroup_to_check(groups, None) == groups
    assert f.spot_nodegroup_to_check(groups, planned[:2]) == groups
    assert f.spot_nodegroup_to_check([], []) == []


def test_current_finds_the_auto_scaling_group_and_stale_taints():
    groups = [{"name": "a", "taints": TAINTS}, {"name": "b", "taints": []}, {"name": "c", "taints": []}]
    asgs = [{"name": "asg-a"}, {"name": "x"}]
    applied = [{"nodegroup": {"nodegroup_arn": "arn:a", "resources": {"auto_scaling_groups": asgs}}},
               {"skipped": True, "nodegroup": None}]
    planned = [{"diff": {"before": {"taints": [
        {"key": "spotInstance", "value": "true", "effect": "PREFER_NO_SCHEDULE"},  # still wanted (EKS spelling)
        {"key": "spotInstance", "value": "true", "effect": "NO_SCHEDULE"},
        {"key": "old", "effect": "NoExecute"},
        {"key": "dedicated", "effect": "NO_SCHEDULE"}]}}}]
    assert f.spot_nodegroup_current(groups, applied, planned) == [
        {"group": groups[0], "name": "a", "asg_name": "asg-a", "exists": True,
         "stale_taints": [{"key": "spotInstance", "effect": "NoSchedule"}, {"key": "old", "effect": "NoExecute"}]},
        {"group": groups[1], "name": "b", "asg_name": "", "exists": False, "stale_taints": []},
        {"group": groups[2], "name": "c", "asg_name": "", "exists": False, "stale_taints": []},
    ]


def test_settled_only_when_every_group_is_active_unchanged_and_tagged():
    def applied(**over):
        return dict({"changed": False, "nodegroup": {"status": "ACTIVE"}}, **over)
    current = [{"name": "a", "exists": True, "asg_name": "asg-a"}, {"name": "b", "exists": True, "asg_name": "asg-b"}]
    assert f.spot_nodegroup_settled([applied(), applied()], current)
    assert not f.spot_nodegroup_settled([applied(), applied(changed=True)], current)              # created or updated
    assert not f.spot_nodegroup_settled([applied(), applied(nodegroup={"status": "CREATING"})], current)
    assert not f.spot_nodegroup_settled([applied(), {"skipped": True, "nodegroup": None}], current)  # no node role yet
    assert not f.spot_nodegroup_settled([applied(), applied()], [current[0], dict(current[1], asg_name="")])
    assert not f.spot_nodegroup_settled([applied()], current)
    assert not f.spot_nodegroup_settled([], [])


def test_ours_carry_both_owner_tags_and_are_not_kept():
    nodegroups = [{"nodegroup_name": "mine", "tags": OWNER},
                  {"nodegroup_name": "mine-too", "tags": dict(OWNER, extra="1")},
                  {"nodegroup_name": "kept", "tags": OWNER},
                  {"nodegroup_name": "other-cluster", "tags": dict(OWNER, **{"spotflow:cluster": "c2"})},
                  {"nodegroup_name": "half", "tags": {"spotflow:cluster": "c1"}},
                  {"nodegroup_name": "untagged", "tags": None},
                  {"nodegroup_name": "no-tags"}]
    assert f.spot_nodegroup_ours(nodegroups, OWNER, ["kept"]) == ["mine", "mine-too"]
    assert f.spot_nodegroup_ours([], OWNER, []) == []


def test_jinja_equivalents():
    assert [f.to_int(v) for v in ("42", "42.7", 3.9, None, "x", True)] == [42, 42, 3, 0, 0, 1]
    assert [f.label_text(v) for v in (True, False, None, 5, "a")] == ["true", "false", "", "5", "a"]
    assert f.to_json(["é", None]) == '["\\u00e9", null]'
    assert f.combine({"a": 1, "b": 2}, {"b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}
    # | combine keeps the right-hand order when both sides are equal (Ansible's merge_hash)
    assert list(f.combine({"a": 1, "b": 2}, {"b": 2, "a": 1})) == ["b", "a"]
    assert f.matches(f.NAME_REGEX, "spot-a_1") and not f.matches(f.NAME_REGEX, "-spot")
