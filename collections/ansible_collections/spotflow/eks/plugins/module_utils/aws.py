# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared helpers for spotflow.eks's AWS modules (eks_nodegroup, eks_addon,
efs_access_point, iam_oidc_provider).

- waiters: botocore waiter models for what these modules wait on, driven by a
  client the module already has (a real boto3 client, a retrying wrapper or a
  test double), so there is no fixed sleep anywhere: the first poll happens at
  once and the waiter sleeps only while the resource is still in transition;
- tag helpers on top of amazon.aws's ``compare_aws_tags``;
- result helpers (snake_case, JSON-safe dates) and the diff structure;
- error helpers: "is this a not-found error", waiter failures as readable
  messages.
"""

from __future__ import annotations

import copy
import datetime
import time

try:
    import botocore
    import botocore.exceptions
    import botocore.waiter as core_waiter
except ImportError:
    pass  # AnsibleAWSModule reports a missing botocore itself

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

# Errors that mean "try again" while polling, not "give up".
_TRANSIENT_ERRORS = (
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "Unavailable",
    "InternalFailure",
    "InternalError",
    "TooManyRequestsException",
    "Throttling",
    "ThrottlingException",
)

# Waiter models, botocore's format. Where botocore ships a waiter of the same
# name its acceptors are the starting point; the differences are commented.
_WAITERS = {
    "eks": {
        "ClusterActive": {
            # botocore's, plus: fail on a cluster that vanished instead of polling to the timeout
            "operation": "DescribeCluster",
            "delay": 20,
            "acceptors": [
                {"matcher": "path", "argument": "cluster.status", "expected": "ACTIVE", "state": "success"},
                {"matcher": "path", "argument": "cluster.status", "expected": "FAILED", "state": "failure"},
                {"matcher": "path", "argument": "cluster.status", "expected": "DELETING", "state": "failure"},
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "failure"},
            ],
        },
        "ClusterDeleted": {
            # botocore's polls a FAILED cluster to the timeout
            "operation": "DescribeCluster",
            "delay": 20,
            "acceptors": [
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"},
                {"matcher": "path", "argument": "cluster.status", "expected": "FAILED", "state": "failure"},
            ],
        },
        "NodegroupActive": {
            # botocore: ACTIVE success, CREATE_FAILED failure. Also fail on a node
            # group that vanished or failed to delete instead of polling to the
            # timeout. DEGRADED keeps polling: EKS reports it while Spot capacity
            # is being found and the failure message carries the health issues.
            "operation": "DescribeNodegroup",
            "delay": 15,
            "acceptors": [
                {"matcher": "path", "argument": "nodegroup.status", "expected": "ACTIVE", "state": "success"},
                {"matcher": "path", "argument": "nodegroup.status", "expected": "CREATE_FAILED", "state": "failure"},
                {"matcher": "path", "argument": "nodegroup.status", "expected": "DELETE_FAILED", "state": "failure"},
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "failure"},
            ],
        },
        "NodegroupDeleted": {
            "operation": "DescribeNodegroup",
            "delay": 15,
            "acceptors": [
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"},
                {"matcher": "path", "argument": "nodegroup.status", "expected": "DELETE_FAILED", "state": "failure"},
            ],
        },
        "NodegroupSettled": {
            # Not in transition any more (whatever the outcome), so that the next
            # update or delete is accepted (EKS answers ResourceInUseException
            # while a node group is CREATING, UPDATING or DELETING).
            "operation": "DescribeNodegroup",
            "delay": 15,
            "acceptors": [
                {"matcher": "path", "argument": "nodegroup.status", "expected": state, "state": "success"}
                for state in ("ACTIVE", "DEGRADED", "CREATE_FAILED", "DELETE_FAILED")
            ]
            + [{"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"}],
        },
        "AddonSettled": {
            "operation": "DescribeAddon",
            "delay": 10,
            "acceptors": [
                {"matcher": "path", "argument": "addon.status", "expected": state, "state": "success"}
                for state in ("ACTIVE", "DEGRADED", "CREATE_FAILED", "UPDATE_FAILED", "DELETE_FAILED")
            ]
            + [{"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"}],
        },
        "AddonActive": {
            # botocore fails at once on DEGRADED; an add-on is DEGRADED while its
            # pods wait for nodes, so keep polling (the timeout reports health).
            "operation": "DescribeAddon",
            "delay": 10,
            "acceptors": [
                {"matcher": "path", "argument": "addon.status", "expected": "ACTIVE", "state": "success"},
                {"matcher": "path", "argument": "addon.status", "expected": "CREATE_FAILED", "state": "failure"},
                {"matcher": "path", "argument": "addon.status", "expected": "UPDATE_FAILED", "state": "failure"},
                {"matcher": "path", "argument": "addon.status", "expected": "DELETE_FAILED", "state": "failure"},
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "failure"},
            ],
        },
        "AddonDeleted": {
            "operation": "DescribeAddon",
            "delay": 10,
            "acceptors": [
                {"matcher": "error", "expected": "ResourceNotFoundException", "state": "success"},
                {"matcher": "path", "argument": "addon.status", "expected": "DELETE_FAILED", "state": "failure"},
            ],
        },
        # No botocore equivalent: an UpdateClusterConfig / UpdateClusterVersion /
        # UpdateNodegroupConfig / UpdateNodegroupVersion / UpdateAddon request is
        # done when its update is Successful.
        "UpdateSuccessful": {
            "operation": "DescribeUpdate",
            "delay": 15,
            "acceptors": [
                {"matcher": "path", "argument": "update.status", "expected": "Successful", "state": "success"},
                {"matcher": "path", "argument": "update.status", "expected": "Failed", "state": "failure"},
                {"matcher": "path", "argument": "update.status", "expected": "Cancelled", "state": "failure"},
            ],
        },
    },
    # botocore has no EFS waiters at all.
    "efs": {
        "AccessPointAvailable": {
            "operation": "DescribeAccessPoints",
            "delay": 5,
            "acceptors": [
                {"matcher": "path", "argument": "AccessPoints[0].LifeCycleState", "expected": "available", "state": "success"},
                {"matcher": "path", "argument": "AccessPoints[0].LifeCycleState", "expected": "error", "state": "failure"},
                {"matcher": "error", "expected": "AccessPointNotFound", "state": "failure"},
            ],
        },
        "AccessPointDeleted": {
            "operation": "DescribeAccessPoints",
            "delay": 5,
            "acceptors": [
                {"matcher": "error", "expected": "AccessPointNotFound", "state": "success"},
                {"matcher": "path", "argument": "length(AccessPoints) == `0`", "expected": True, "state": "success"},
                {"matcher": "path", "argument": "AccessPoints[0].LifeCycleState", "expected": "deleted", "state": "success"},
                {"matcher": "path", "argument": "AccessPoints[0].LifeCycleState", "expected": "error", "state": "failure"},
            ],
        },
    },
}


def _waiter_config(service):
    config = {"version": 2, "waiters": copy.deepcopy(_WAITERS[service])}
    for waiter in config["waiters"].values():
        waiter.setdefault("maxAttempts", 40)
        waiter["acceptors"].extend(
            {"matcher": "error", "expected": code, "state": "retry"} for code in _TRANSIENT_ERRORS
        )
    return config


def get_waiter(client, service, name):
    """A botocore Waiter for one of the models above, polling through ``client``."""
    model = core_waiter.WaiterModel(waiter_config=_waiter_config(service)).get_waiter(name)
    operation = getattr(client, botocore.xform_name(model.operation))
    return core_waiter.Waiter(name, model, core_waiter.NormalizedOperationMethod(operation))


def poll_delays(ceiling, timeout, first=2):
    """Seconds to sleep between polls: 2, 4, 8 ... up to the waiter's own delay.

    A resource that is ready in 10 s is seen ready after about 10 s, not after
    the waiter's fixed 20 s, while one that takes 15 minutes is still polled
    only every ``ceiling`` seconds. The sleeps never add up past ``timeout``.
    """
    left, step = float(timeout), float(first)
    while left > 0:
        sleep = min(step, float(ceiling), left)
        yield sleep
        left -= sleep
        step *= 2


def wait_for(module, client, service, waiter_name, what, wait_timeout=None, delay=None, **params):
    """Poll until the waiter ``waiter_name`` succeeds, or fail the module with a readable message.

    ``what`` names the resource in messages ("node group spot-a"); ``params`` are
    the request parameters of the waiter's operation. The timeout defaults to
    the module's ``wait_timeout`` option. The first poll is at once, the next
    ones follow ``poll_delays`` (botocore's waiters sleep a fixed delay).
    """
    waiter = get_waiter(client, service, waiter_name)
    timeout = wait_timeout if wait_timeout is not None else module.params.get("wait_timeout")
    delays = poll_delays(max(1, delay or waiter.config.delay), timeout)
    while True:
        try:
            # one poll: success returns, a failure acceptor raises at once
            waiter.wait(WaiterConfig={"Delay": 1, "MaxAttempts": 1}, **params)
            return
        except botocore.exceptions.WaiterError as e:
            sleep = next(delays, None)
            if "Max attempts exceeded" not in str(e) or sleep is None:
                module.fail_json(**waiter_failure(e, what, waiter_name, timeout))
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="Failed while waiting for {0}".format(what))
        time.sleep(sleep)


def waiter_failure(error, what, name, timeout):
    """fail_json arguments for a WaiterError: why it stopped and the last answer."""
    last = error.last_response or {}
    if "Max attempts exceeded" in str(error):
        reason = "timed out after {0} seconds".format(timeout)
    else:
        reason = str(getattr(error, "reason", error))
    details = describe_problem(last)
    msg = "Waiting for {0} ({1}) failed: {2}".format(what, name, reason)
    if details:
        msg += ". " + details
    return dict(msg=msg, last_response=to_result(strip_metadata(last)))


def describe_problem(response):
    """Status, update errors and health issues from an EKS/EFS answer, as one sentence."""
    parts = []
    for key in ("nodegroup", "addon", "update"):
        body = response.get(key)
        if not isinstance(body, dict):
            continue
        if body.get("status"):
            parts.append("{0} status is {1}".format(key, body["status"]))
        for issue in (body.get("health") or {}).get("issues") or []:
            parts.append("health: {0}: {1}".format(issue.get("code"), issue.get("message")))
        for err in body.get("errors") or []:
            parts.append("error: {0}: {1}".format(err.get("errorCode"), err.get("errorMessage")))
    for ap in response.get("AccessPoints") or []:
        parts.append("access point {0} is {1}".format(ap.get("AccessPointId"), ap.get("LifeCycleState")))
    error = response.get("Error")
    if isinstance(error, dict) and error.get("Code"):
        parts.append("{0}: {1}".format(error.get("Code"), error.get("Message")))
    return "; ".join(parts)


def error_code(exc):
    """The AWS error code of a ClientError, or None for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def is_not_found(exc, codes=("ResourceNotFoundException", "NoSuchEntity", "AccessPointNotFound", "NotFoundException")):
    return error_code(exc) in codes


# What a service answers while IAM has not propagated a role made seconds ago (EKS: CreateCluster;
# KMS: a key policy naming the role). The same answer for a role that does not exist or does not
# trust the service, hence the bound.
ROLE_NOT_PROPAGATED = ("could not be assumed", "cannot be assumed", "invalid principals")
ROLE_PROPAGATION_TIMEOUT = 120


def role_not_propagated(exc):
    message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", "")).lower()
    return error_code(exc) in ("InvalidParameterException", "MalformedPolicyDocumentException") and any(
        text in message for text in ROLE_NOT_PROPAGATED)


def while_role_propagates(call, timeout=ROLE_PROPAGATION_TIMEOUT, sleep=None):
    """``call()``, again while it fails because a new IAM role is not usable yet (up to ``timeout`` s).

    IAM is eventually consistent: a role is commonly refused for 5 to 15 seconds after CreateRole.
    AWSRetry retries throttling only, so without this the first converge on a fresh account fails.
    """
    for delay in list(poll_delays(15, timeout)) + [None]:
        try:
            return call()
        except botocore.exceptions.ClientError as e:
            if delay is None or not role_not_propagated(e):
                raise
            (sleep or time.sleep)(delay)


# ---------------------------------------------------------------- tags


def tags_to_str(tags):
    """Tag values as AWS stores them (strings); None for 'tags not given'."""
    if tags is None:
        return None
    return dict((str(k), "" if v is None else str(v)) for k, v in tags.items())


def tag_changes(current, desired, purge_tags):
    """``(to_set, to_unset)`` to take ``current`` to ``desired``.

    ``desired`` None means tags are not managed (nothing changes); keys beginning
    with ``aws:`` are never removed (AWS reserves them).
    """
    if desired is None:
        return {}, []
    to_set, to_unset = compare_aws_tags(current or {}, tags_to_str(desired), purge_tags)
    return to_set, sorted(to_unset)


def tags_after(current, to_set, to_unset):
    """The tags a resource will have once ``to_set`` and ``to_unset`` are applied."""
    result = dict(current or {})
    for key in to_unset:
        result.pop(key, None)
    result.update(to_set)
    return result


# ---------------------------------------------------------------- results


def strip_metadata(response):
    if isinstance(response, dict):
        return dict((k, v) for k, v in response.items() if k != "ResponseMetadata")
    return response


def _json_safe(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, dict):
        return dict((k, _json_safe(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def to_result(resource, keep_case=("tags", "Tags", "labels")):
    """A boto3 answer as a module result: snake_case keys (except under
    ``keep_case``: tag and label keys are data), dates as ISO 8601 strings."""
    if resource is None:
        return {}
    return _json_safe(camel_dict_to_snake_dict(resource, ignore_list=list(keep_case)))


def make_diff(before, after):
    """The structure Ansible's diff callback renders (both sides JSON-safe)."""
    return {"before": _json_safe(before or {}), "after": _json_safe(after or {})}
