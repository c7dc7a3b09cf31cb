"""The rds_postgres role's filter: the PostgreSQL rules of the DB instance's security group."""

from __future__ import annotations

import importlib.util

import pytest

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "rds_postgres_filters", REPO / "roles" / "rds_postgres" / "filter_plugins" / "rds_postgres.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)


def test_ingress_rules_one_per_node_security_group_with_the_port_as_a_number():
    assert f.rds_postgres_ingress_rules(["sg-1", "sg-2"], "5432", "PostgreSQL from the nodes of spotflow") == [
        {"proto": "tcp", "ports": [5432], "group_id": "sg-1", "rule_desc": "PostgreSQL from the nodes of spotflow"},
        {"proto": "tcp", "ports": [5432], "group_id": "sg-2", "rule_desc": "PostgreSQL from the nodes of spotflow"},
    ]
    assert f.rds_postgres_ingress_rules([], 5432, "x") == []


def test_a_single_string_is_not_taken_for_a_list_of_its_characters():
    with pytest.raises(TypeError, match="expected a list of security group ids, got the string 'sg-1'"):
        f.rds_postgres_ingress_rules("sg-1", 5432, "x")


def test_a_port_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="invalid literal for int"):
        f.rds_postgres_ingress_rules(["sg-1"], "postgres", "x")


def test_the_filter_is_registered_under_the_role_name():
    assert set(f.FilterModule().filters()) == {"rds_postgres_ingress_rules"}
