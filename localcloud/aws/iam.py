"""IAM: adding and removing client ids of an OIDC provider (moto answers 500); a new role is not
usable at once (IAM is eventually consistent: other services see a role seconds after CreateRole)."""

from __future__ import annotations

import json

# Seconds after CreateRole during which EKS and FIS cannot assume the role and KMS refuses it as a principal
# (often 5-15 s on AWS; SPOTFLOW_LOCALCLOUD_LATENCY {"iam_propagation": s}).
IAM_PROPAGATION_SECONDS = 3
_propagation = {"seconds": IAM_PROPAGATION_SECONDS}  # what patch_iam_propagation was given


def unpropagated_roles(account_id: str, arns) -> list[str]:
    """Those of ``arns`` that are roles IAM has not propagated yet (unknown ARNs are not judged)."""
    from moto.core.utils import utcnow
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["global"]
    fresh = []
    for arn in arns:
        try:
            role = backend.get_role_by_arn(arn)
        except Exception:
            continue
        if (utcnow() - role.create_date).total_seconds() < _propagation["seconds"]:
            fresh.append(arn)
    return fresh


def policy_principals(policy: str | None) -> list[str]:
    """The AWS principals a JSON policy names."""
    try:
        statements = json.loads(policy or "{}").get("Statement", [])
    except (ValueError, AttributeError):
        return []
    found = []
    for st in statements if isinstance(statements, list) else [statements]:
        aws = (st.get("Principal") or {}).get("AWS", []) if isinstance(st.get("Principal"), dict) else []
        found += [aws] if isinstance(aws, str) else list(aws)
    return found


def patch_iam_propagation(seconds: float) -> None:
    """KMS refuses a key policy naming a role IAM has not propagated yet (EKS: localcloud/aws/eks.py)."""
    _propagation["seconds"] = seconds
    from moto.kms.exceptions import JsonRESTError
    from moto.kms.models import KmsBackend

    class MalformedPolicyDocument(JsonRESTError):
        code = 400

        def __init__(self):
            super().__init__("MalformedPolicyDocumentException",
                             "Policy contains a statement with one or more invalid principals.")

    def refuse_fresh(backend, policy):
        if unpropagated_roles(backend.account_id, policy_principals(policy)):
            raise MalformedPolicyDocument()

    orig_create_key, orig_put_key_policy = KmsBackend.create_key, KmsBackend.put_key_policy

    def create_key(self, policy, *args, **kwargs):
        refuse_fresh(self, policy)
        return orig_create_key(self, policy, *args, **kwargs)

    def put_key_policy(self, key_id, policy):
        refuse_fresh(self, policy)
        return orig_put_key_policy(self, key_id, policy)

    KmsBackend.create_key = create_key
    KmsBackend.put_key_policy = put_key_policy


def patch_iam_oidc() -> None:
    from moto.core.responses import EmptyResult
    from moto.iam.responses import IamResponse

    def add_client_id_to_open_id_connect_provider(self):
        provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
        client_id = self._get_param("ClientID")
        if client_id not in provider.client_id_list:
            provider.client_id_list.append(client_id)
        return EmptyResult()

    def remove_client_id_from_open_id_connect_provider(self):
        provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
        client_id = self._get_param("ClientID")
        if client_id in provider.client_id_list:
            provider.client_id_list.remove(client_id)
        return EmptyResult()

    IamResponse.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider
    IamResponse.remove_client_id_from_open_id_connect_provider = remove_client_id_from_open_id_connect_provider
