"""What the per-service fixes share: backend lookups, AWS-shaped errors, the hooks to the rest of the local cloud."""

from __future__ import annotations

import base64
from typing import Callable


class Hooks:
    """Callbacks from the patched backends to the node simulator."""

    interrupt_instances: Callable[..., None] | None = None  # (account, region, instance_ids, notice_s, finished)


HOOKS = Hooks()


def _ec2(account_id: str, region: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _autoscaling(account_id: str, region: str):
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[account_id][region]


def _invalid_parameter(message: str):
    from moto.eks.exceptions import InvalidParameterException

    return InvalidParameterException(clusterName=None, nodegroupName=None, fargateProfileName=None,
                                     addonName=None, message=message)


def _invalid_request(message: str):
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("InvalidRequestException", message)
    error.code = 400
    return error


def _caller_arn(response) -> str:
    from moto.sts.models import sts_backends

    sts = sts_backends[response.current_account]["global"]
    return sts.get_caller_identity(response.get_access_key(), response.region)[1]



def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
