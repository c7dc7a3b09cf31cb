"""Unit tests of spotflow.eks.ec2_instance_type_offering_info: the request (location type, filters), every
page read, the result sorted and grouped by location (locations asked for are keys even when empty), check
mode, and API errors failing the task."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.modules import ec2_instance_type_offering_info as mod

# us-east-1 by zone name, as EC2 answers it (us-east-1e lacks the newer generations)
OFFERS = {
    "us-east-1a": ["m5.xlarge", "m7i.large", "m7i.xlarge"],
    "us-east-1b": ["m5.xlarge", "m7i.large", "m7i.xlarge"],
    "us-east-1e": ["m5.xlarge"],
}


class FakeEC2:
    """DescribeInstanceTypeOfferings with EC2's filters (instance-type, location), answered in pages of
    ``page_size`` (botocore's paginator follows NextToken; here the pages come as the paginator yields them)."""

    def __init__(self, offers=None, page_size=2, error=None):
        self.offers = OFFERS if offers is None else offers
        self.page_size = page_size
        self.error = error
        self.requests = []

    def get_paginator(self, name):
        assert name == "describe_instance_type_offerings"
        fake = self

        class Paginator:
            def paginate(self, LocationType="region", Filters=()):
                fake.requests.append({"LocationType": LocationType, "Filters": list(Filters)})
                if fake.error:
                    raise ClientError({"Error": {"Code": fake.error, "Message": "nope"}}, "DescribeInstanceTypeOfferings")
                wanted = dict((f["Name"], set(f["Values"])) for f in Filters)
                found = [{"InstanceType": t, "LocationType": LocationType, "Location": loc}
                         for loc, types in fake.offers.items() for t in types
                         if loc in wanted.get("location", [loc]) and t in wanted.get("instance-type", [t])]
                for i in range(0, max(len(found), 1), fake.page_size):
                    yield {"InstanceTypeOfferings": found[i:i + fake.page_size]}

        return Paginator()


def run(args, client, monkeypatch, capsys, check_mode=False):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_offerings_by_zone_every_page_sorted(monkeypatch, capsys, check_mode):
    client = FakeEC2(page_size=2)  # 5 offerings: 3 pages
    result = run({"instance_types": ["m7i.xlarge", "m5.xlarge"]}, client, monkeypatch, capsys, check_mode)
    assert result["_rc"] == 0 and result["changed"] is False
    assert client.requests == [{"LocationType": "availability-zone",
                                "Filters": [{"Name": "instance-type", "Values": ["m7i.xlarge", "m5.xlarge"]}]}]
    assert result["offerings"] == [
        {"instance_type": t, "location": z, "location_type": "availability-zone"}
        for z, t in [("us-east-1a", "m5.xlarge"), ("us-east-1a", "m7i.xlarge"), ("us-east-1b", "m5.xlarge"),
                     ("us-east-1b", "m7i.xlarge"), ("us-east-1e", "m5.xlarge")]]
    assert result["by_location"] == {"us-east-1a": ["m5.xlarge", "m7i.xlarge"], "us-east-1b": ["m5.xlarge", "m7i.xlarge"],
                                     "us-east-1e": ["m5.xlarge"]}


def test_locations_filter_and_are_keys_even_when_nothing_is_offered(monkeypatch, capsys):
    client = FakeEC2()
    result = run({"instance_types": ["m7i.large"], "locations": ["us-east-1a", "us-east-1e"]}, client, monkeypatch, capsys)
    assert client.requests[0]["Filters"][1] == {"Name": "location", "Values": ["us-east-1a", "us-east-1e"]}
    assert result["by_location"] == {"us-east-1a": ["m7i.large"], "us-east-1e": []}
    assert [o["location"] for o in result["offerings"]] == ["us-east-1a"]


def test_location_type_is_passed_and_reported(monkeypatch, capsys):
    client = FakeEC2(offers={"use1-az6": ["m7i.large"], "use1-az3": []})
    result = run({"instance_types": ["m7i.large"], "location_type": "availability-zone-id"}, client, monkeypatch, capsys)
    assert client.requests[0]["LocationType"] == "availability-zone-id"
    assert result["offerings"] == [{"instance_type": "m7i.large", "location": "use1-az6", "location_type": "availability-zone-id"}]


def test_without_instance_types_every_type_is_asked_for(monkeypatch, capsys):
    client = FakeEC2()
    result = run({"location_type": "availability-zone"}, client, monkeypatch, capsys)
    assert client.requests == [{"LocationType": "availability-zone", "Filters": []}]
    assert len(result["offerings"]) == 7


@pytest.mark.parametrize("args", [{"instance_types": []}, {"instance_types": ["m5.xlarge"], "locations": []}])
def test_an_empty_list_asks_nothing_and_finds_nothing(monkeypatch, capsys, args):
    """An empty filter would match everything: nothing is asked, nothing is offered."""
    client = FakeEC2()
    result = run(args, client, monkeypatch, capsys)
    assert client.requests == [] and result["offerings"] == []
    assert result["by_location"] == {}


def test_unknown_location_type_is_refused(monkeypatch, capsys):
    result = run({"location_type": "zone"}, FakeEC2(), monkeypatch, capsys)
    assert result["_rc"] == 1 and "location_type" in result["msg"]


def test_api_errors_fail(monkeypatch, capsys):
    result = run({"instance_types": ["m5.xlarge"]}, FakeEC2(error="UnauthorizedOperation"), monkeypatch, capsys)
    assert result["_rc"] == 1
    assert "Failed to describe the instance type offerings (availability-zone)" in result["msg"]
