"""Taint arithmetic of spotflow.eks.node_taint (module_utils/taints.py)."""

from __future__ import annotations

import pytest
from ansible_collections.spotflow.eks.plugins.module_utils.taints import (
    compute_taints,
    format_taint,
    new_taint,
    validate_taints,
)

NOW = "2024-05-01T10:00:00Z"
SPOT = {"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}
DEDICATED = {"key": "dedicated", "value": "core", "effect": "NoSchedule"}
EXEC = {"key": "drain", "effect": "NoExecute", "timeAdded": "2024-01-01T00:00:00Z"}


def test_add_to_empty():
    taints, changed = compute_taints(None, [SPOT])
    assert changed
    assert taints == [SPOT]


def test_add_keeps_other_taints_and_appends():
    taints, changed = compute_taints([DEDICATED], [SPOT])
    assert changed
    assert taints == [DEDICATED, SPOT]


def test_present_is_idempotent():
    existing = [DEDICATED, SPOT]
    taints, changed = compute_taints(existing, [SPOT])
    assert not changed
    assert taints == existing


def test_update_value_in_place_not_duplicated():
    existing = [SPOT, DEDICATED]
    taints, changed = compute_taints(existing, [dict(SPOT, value="false")])
    assert changed
    assert taints == [dict(SPOT, value="false"), DEDICATED]


def test_same_key_other_effect_is_another_taint():
    taints, changed = compute_taints([SPOT], [dict(SPOT, effect="NoSchedule")])
    assert changed
    assert taints == [SPOT, dict(SPOT, effect="NoSchedule")]


def test_empty_value_equals_missing_value():
    existing = [{"key": "a", "effect": "NoSchedule"}]
    taints, changed = compute_taints(existing, [{"key": "a", "value": "", "effect": "NoSchedule"}])
    assert not changed
    assert taints == existing
    taints, changed = compute_taints([{"key": "a", "value": "", "effect": "NoSchedule"}], [{"key": "a", "effect": "NoSchedule"}])
    assert not changed


def test_value_removed_when_requested_without_value():
    taints, changed = compute_taints([SPOT], [{"key": "spotInstance", "effect": "PreferNoSchedule"}])
    assert changed
    assert taints == [{"key": "spotInstance", "effect": "PreferNoSchedule"}]


def test_untouched_taints_keep_time_added():
    taints, changed = compute_taints([EXEC], [SPOT], time_added=NOW)
    assert changed
    assert taints[0] == EXEC
    taints, changed = compute_taints([EXEC], [{"key": "drain", "effect": "NoExecute"}], time_added=NOW)
    assert not changed
    assert taints == [EXEC]


def test_new_and_updated_no_execute_taints_get_time_added():
    taints, _ = compute_taints([], [{"key": "x", "effect": "NoExecute"}, SPOT], time_added=NOW)
    assert taints[0] == {"key": "x", "effect": "NoExecute", "timeAdded": NOW}
    assert "timeAdded" not in taints[1]
    taints, changed = compute_taints([EXEC], [{"key": "drain", "value": "v", "effect": "NoExecute"}], time_added=NOW)
    assert changed
    assert taints == [{"key": "drain", "value": "v", "effect": "NoExecute", "timeAdded": NOW}]


def test_replace_makes_exactly_the_list():
    taints, changed = compute_taints([DEDICATED, SPOT], [SPOT], replace=True)
    assert changed
    assert taints == [SPOT]


def test_replace_removes_extra_even_when_listed_ones_exist():
    # kubernetes.core.k8s_taint reports no change here and keeps DEDICATED
    taints, changed = compute_taints([SPOT, DEDICATED], [SPOT], replace=True)
    assert changed
    assert taints == [SPOT]


def test_replace_is_idempotent_and_order_insensitive():
    existing = [DEDICATED, SPOT]
    taints, changed = compute_taints(existing, [SPOT, DEDICATED], replace=True)
    assert not changed
    assert taints == existing


def test_replace_with_empty_list_clears():
    taints, changed = compute_taints([SPOT], [], replace=True)
    assert changed
    assert taints == []
    assert compute_taints([], [], replace=True) == ([], False)


def test_replace_updates_values_in_place():
    desired = [dict(SPOT, value="no"), {"key": "n", "effect": "NoSchedule"}]
    taints, changed = compute_taints([DEDICATED, SPOT], desired, replace=True)
    assert changed
    assert taints == [dict(SPOT, value="no"), {"key": "n", "effect": "NoSchedule"}]


def test_absent_matches_key_and_effect_ignoring_value():
    other_value = {"key": "spotInstance", "value": "other", "effect": "PreferNoSchedule"}
    taints, changed = compute_taints([DEDICATED, SPOT], [other_value], state="absent")
    assert changed
    assert taints == [DEDICATED]


def test_absent_other_effect_is_kept():
    taints, changed = compute_taints([SPOT], [{"key": "spotInstance", "effect": "NoSchedule"}], state="absent")
    assert not changed
    assert taints == [SPOT]


def test_absent_is_idempotent_and_ignores_replace():
    taints, changed = compute_taints([DEDICATED], [SPOT], state="absent", replace=True)
    assert not changed
    assert taints == [DEDICATED]
    assert compute_taints(None, [SPOT], state="absent") == ([], False)


@pytest.mark.parametrize("replace", [False, True])
def test_ordering_is_stable(replace):
    existing = [{"key": k, "effect": "NoSchedule"} for k in "cab"]
    desired = [{"key": k, "effect": "NoSchedule"} for k in "bdac"]
    taints, changed = compute_taints(existing, desired, replace=replace)
    assert changed
    assert [t["key"] for t in taints] == ["c", "a", "b", "d"]
    again, changed = compute_taints(taints, desired, replace=replace)
    assert not changed
    assert again == taints


def test_inputs_are_not_mutated():
    existing = [dict(SPOT)]
    desired = [dict(SPOT, value="x")]
    compute_taints(existing, desired, time_added=NOW)
    assert existing == [SPOT]
    assert desired == [dict(SPOT, value="x")]


def test_bad_state():
    with pytest.raises(ValueError):
        compute_taints([], [], state="gone")


def test_validate_taints():
    assert validate_taints([SPOT, DEDICATED]) == []
    errors = validate_taints([SPOT, dict(SPOT, value="x"), {"key": "", "effect": "NoSchedule"}, {"key": "k", "effect": "Nope"}])
    assert len(errors) == 3
    assert "taints[0] and taints[1]" in errors[0]
    assert "key must not be empty" in errors[1]
    assert "effect must be one of" in errors[2]


def test_format_and_new_taint():
    assert format_taint(SPOT) == "spotInstance=true:PreferNoSchedule"
    assert format_taint({"key": "a", "effect": "NoSchedule"}) == "a:NoSchedule"
    assert new_taint("a", "NoSchedule", None, NOW) == {"key": "a", "effect": "NoSchedule"}
    assert new_taint("a", "NoExecute", "v", NOW) == {"key": "a", "value": "v", "effect": "NoExecute", "timeAdded": NOW}
