#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: iam_oidc_provider
version_added: 0.1.0
short_description: Manage IAM OpenID Connect identity providers (for EKS IRSA)
description:
  - Create, update and delete an IAM OpenID Connect (OIDC) identity provider, such as
    the one an EKS cluster's issuer needs for IAM roles for service accounts (IRSA).
  - This module exists because neither C(amazon.aws) nor C(community.aws) has one.
    It looks the provider up by URL (C(ListOpenIDConnectProviders) and
    C(GetOpenIDConnectProvider)) before it creates one, because a second
    C(CreateOpenIDConnectProvider) for the same URL fails with C(EntityAlreadyExists).
  - Client IDs (audiences), thumbprints and tags of an existing provider are
    updated in place.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the provider; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  url:
    description:
      - Issuer URL, for example the EKS cluster's C(identity.oidc.issuer). The scheme
        may be left out (V(https://) is assumed) and a trailing slash is ignored.
      - Required with O(state=present). With O(state=absent), give O(url) or O(arn).
    type: str
  arn:
    description:
      - ARN of the provider, an alternative to O(url) to find it.
    type: str
  client_ids:
    description:
      - Audiences (client IDs) the provider accepts. This is the complete list, others are removed.
      - V(sts.amazonaws.com) is what EKS IRSA needs.
    type: list
    elements: str
    default: [sts.amazonaws.com]
    aliases: [client_id_list]
  thumbprints:
    description:
      - SHA-1 fingerprints (40 hex digits) of the issuer's TLS certificate chain.
      - Optional. IAM no longer needs them for EKS issuers and other issuers whose
        certificates chain to a trusted CA, so none are sent when this is left out,
        and those of an existing provider are then left alone.
      - Compared without regard to order or case.
    type: list
    elements: str
    aliases: [thumbprint_list]
notes:
  - IAM is synchronous, so there is nothing to wait for. IAM is eventually consistent, so a role
    that trusts the new provider may need some seconds before C(AssumeRoleWithWebIdentity) works.
  - Member of the action group C(spotflow.eks.aws).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: OIDC provider for IRSA, from the cluster's issuer URL
  spotflow.eks.iam_oidc_provider:
    url: "{{ cluster.identity.oidc.issuer }}"  # community.aws.eks_cluster's result
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: eks_cluster
  register: oidc

- name: Use the ARN in a role's trust policy
  ansible.builtin.debug:
    msg: "Federated principal: {{ oidc.arn }}"

- name: Delete it
  spotflow.eks.iam_oidc_provider:
    url: "{{ spotflow_cluster.oidc_issuer }}"
    state: absent
"""

RETURN = r"""
arn:
  description:
    - ARN of the provider. Empty after O(state=absent), and in check mode when the
      provider would be created (IAM makes the ARN).
  returned: always
  type: str
  sample: arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/5C5E7B0D2E9F0A1B2C3D4E5F6A7B8C9D
oidc_provider:
  description: The provider; empty after O(state=absent).
  returned: always
  type: dict
  contains:
    arn:
      description: ARN of the provider.
      type: str
    url:
      description: Issuer URL as IAM stores it (without scheme).
      type: str
      sample: oidc.eks.eu-west-1.amazonaws.com/id/5C5E7B0D2E9F0A1B2C3D4E5F6A7B8C9D
    client_id_list:
      description: Audiences.
      type: list
      elements: str
      sample: [sts.amazonaws.com]
    thumbprint_list:
      description: Thumbprints.
      type: list
      elements: str
    create_date:
      description: When the provider was created.
      type: str
    tags:
      description: Tags of the provider.
      type: dict
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import make_diff
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tag_changes
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_after
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_to_str
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result


def url_key(url):
    """The URL as IAM stores it and as the ARN ends: no scheme, no trailing slash."""
    url = (url or "").strip()
    for scheme in ("https://", "http://"):
        if url.lower().startswith(scheme):
            url = url[len(scheme):]
    return url.rstrip("/")


def create_url(url):
    return "https://" + url_key(url)


def arn_matches(arn, url):
    return arn.split(":oidc-provider/", 1)[-1] == url_key(url)


def client_id_changes(current, desired):
    """``(to_add, to_remove)``, both sorted."""
    current, desired = set(current or []), set(desired or [])
    return sorted(desired - current), sorted(current - desired)


def thumbprints_differ(current, desired):
    if desired is None:
        return False
    return set(t.lower() for t in current or []) != set(t.lower() for t in desired)


def managed_view(provider):
    if not provider:
        return {}
    return {
        "url": provider.get("Url"),
        "client_ids": sorted(provider.get("ClientIDList") or []),
        "thumbprints": sorted(t.lower() for t in provider.get("ThumbprintList") or []),
        "tags": boto3_tag_list_to_ansible_dict(provider.get("Tags") or []),
    }


def provider_result(arn, provider):
    if not provider:
        return dict(arn="", oidc_provider={})
    body = dict(provider)
    body.pop("ResponseMetadata", None)
    body["Tags"] = boto3_tag_list_to_ansible_dict(provider.get("Tags") or [])
    body["Arn"] = arn or ""
    return dict(arn=arn or "", oidc_provider=to_result(body))


class ProviderManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.what = "OIDC provider {0}".format(self.params.get("url") or self.params.get("arn"))

    def find_arn(self):
        if self.params.get("arn"):
            return self.params["arn"]
        try:
            providers = self.client.list_open_id_connect_providers(aws_retry=True)["OpenIDConnectProviderList"]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to list OIDC providers")
        for provider in providers:
            if arn_matches(provider["Arn"], self.params["url"]):
                return provider["Arn"]
        return None

    def get(self, arn):
        if not arn:
            return None
        try:
            provider = self.client.get_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
        except (BotoCoreError, ClientError) as e:
            if is_not_found(e):
                return None
            self.module.fail_json_aws(e, msg="Failed to read {0}".format(self.what))
        provider.pop("ResponseMetadata", None)
        return provider

    def ensure_present(self):
        arn = self.find_arn()
        provider = self.get(arn)
        if provider is None:
            return self.create()
        if self.params.get("url") and url_key(provider.get("Url")) != url_key(self.params["url"]):
            self.module.fail_json(
                msg="{0} has URL {1}, not {2}".format(arn, provider.get("Url"), url_key(self.params["url"]))
            )
        return self.update(arn, provider)

    def create(self):
        params = self.params
        request = dict(Url=create_url(params["url"]), ClientIDList=list(params["client_ids"]))
        if params.get("thumbprints"):
            request["ThumbprintList"] = list(params["thumbprints"])
        tags = tags_to_str(params.get("tags"))
        if tags:
            request["Tags"] = ansible_dict_to_boto3_tag_list(tags)
        predicted = dict(
            Url=url_key(params["url"]),
            ClientIDList=request["ClientIDList"],
            ThumbprintList=request.get("ThumbprintList", []),
            Tags=request.get("Tags", []),
        )
        result = dict(changed=True)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, **provider_result("", predicted))
        try:
            arn = self.client.create_open_id_connect_provider(aws_retry=True, **request)["OpenIDConnectProviderArn"]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to create {0}".format(self.what))
        # IAM is eventually consistent: report what was created instead of reading it back.
        return dict(result, **provider_result(arn, predicted))

    def update(self, arn, provider):
        params = self.params
        to_add, to_remove = client_id_changes(provider.get("ClientIDList"), params["client_ids"])
        new_thumbprints = None
        if thumbprints_differ(provider.get("ThumbprintList"), params.get("thumbprints")):
            new_thumbprints = params["thumbprints"]
        current_tags = boto3_tag_list_to_ansible_dict(provider.get("Tags") or [])
        to_set, to_unset = tag_changes(current_tags, params.get("tags"), params["purge_tags"])
        changed = bool(to_add or to_remove or new_thumbprints is not None or to_set or to_unset)

        after = dict(provider)
        after["ClientIDList"] = sorted(set(provider.get("ClientIDList") or []) - set(to_remove) | set(to_add))
        if new_thumbprints is not None:
            after["ThumbprintList"] = list(new_thumbprints)
        after["Tags"] = ansible_dict_to_boto3_tag_list(tags_after(current_tags, to_set, to_unset))
        result = dict(changed=changed)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(provider), managed_view(after))
        if self.module.check_mode or not changed:
            return dict(result, **provider_result(arn, after))

        try:
            # Add before removing, so the provider never has no audience at all.
            for client_id in to_add:
                self.client.add_client_id_to_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
            for client_id in to_remove:
                self.client.remove_client_id_from_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ClientID=client_id
                )
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the client IDs of {0}".format(self.what))
        if new_thumbprints is not None:
            try:
                self.client.update_open_id_connect_provider_thumbprint(
                    aws_retry=True, OpenIDConnectProviderArn=arn, ThumbprintList=list(new_thumbprints)
                )
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Failed to update the thumbprints of {0}".format(self.what))
        try:
            if to_unset:
                self.client.untag_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn, TagKeys=to_unset)
            if to_set:
                self.client.tag_open_id_connect_provider(
                    aws_retry=True, OpenIDConnectProviderArn=arn, Tags=ansible_dict_to_boto3_tag_list(to_set)
                )
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the tags of {0}".format(self.what))
        return dict(result, **provider_result(arn, after))

    def ensure_absent(self):
        arn = self.find_arn()
        provider = self.get(arn)
        result = dict(changed=provider is not None, **provider_result(None, None))
        if provider is None:
            return result
        if self.module._diff:
            result["diff"] = make_diff(managed_view(provider), {})
        if not self.module.check_mode:
            try:
                self.client.delete_open_id_connect_provider(aws_retry=True, OpenIDConnectProviderArn=arn)
            except (BotoCoreError, ClientError) as e:
                if not is_not_found(e):
                    self.module.fail_json_aws(e, msg="Failed to delete {0}".format(self.what))
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        url=dict(type="str"),
        arn=dict(type="str"),
        client_ids=dict(type="list", elements="str", default=["sts.amazonaws.com"], aliases=["client_id_list"]),
        thumbprints=dict(type="list", elements="str", aliases=["thumbprint_list"]),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["url"]]],
        required_one_of=[["url", "arn"]],
    )
    client = module.client("iam", retry_decorator=AWSRetry.jittered_backoff())
    manager = ProviderManager(module, client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
