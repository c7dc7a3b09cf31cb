#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_repository
version_added: 0.1.0
short_description: Manage an Amazon ECR repository with its tags, scanning, tag mutability, encryption and lifecycle policy
description:
  - Create, update and delete a private Amazon ECR repository.
  - This module exists because C(community.aws.ecs_ecr) 11.2.0 cannot tag a
    repository, fails on O(encryption_configuration.encryption_type=AES256)
    without a key (it sends C(kmsKey=None)) and has no diff mode.
  - ECR cannot change the encryption of an existing repository. When it differs the
    module fails and says so; it never deletes a repository (and its images) by itself.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the repository; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the repository, for example V(spotflow/dev/airflow).
    type: str
    required: true
  registry_id:
    description:
      - AWS account ID of the registry. Default is the caller's account.
    type: str
  image_tag_mutability:
    description:
      - V(IMMUTABLE) refuses to push a tag that already exists in the repository.
    type: str
    choices: [MUTABLE, IMMUTABLE]
    default: MUTABLE
  scan_on_push:
    description:
      - Scan every image for vulnerabilities when it is pushed (basic scanning).
    type: bool
    default: false
  encryption_configuration:
    description:
      - How the repository encrypts images at rest. Set at creation only.
      - Left out, a new repository uses V(AES256) and an existing one is not compared.
    type: dict
    suboptions:
      encryption_type:
        description: The encryption type.
        type: str
        choices: [AES256, KMS, KMS_DSSE]
        default: AES256
      kms_key:
        description:
          - KMS key (ID, ARN or alias) for V(KMS) and V(KMS_DSSE). Left out, AWS uses its managed
            key C(aws/ecr). An ID or alias is resolved to its ARN (C(kms:DescribeKey)) to compare
            it with an existing repository.
        type: str
  lifecycle_policy:
    description:
      - Lifecycle policy, as a dictionary or a JSON string. Compared by content (rules in
        C(rulePriority) order), not by text.
      - Left out, the repository's lifecycle policy is left alone unless O(purge_lifecycle_policy=true).
    type: json
  purge_lifecycle_policy:
    description:
      - Delete an existing lifecycle policy when O(lifecycle_policy) is not given.
    type: bool
    default: false
  force_absent:
    description:
      - With O(state=absent), delete the repository even if it holds images (the images go with it).
        Without it, a repository with images is not deleted and the module fails.
    type: bool
    default: false
  wait:
    description:
      - With O(state=absent), wait until C(DescribeRepositories) no longer finds the repository.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 120
notes:
  - Member of the action group C(spotflow.eks.aws).
  - With O(purge_tags=true) (the default), tags not in O(tags) are removed; without O(tags) the tags are not managed.
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
- name: Repository for the Airflow image, keeping the last 20 images
  spotflow.eks.ecr_repository:
    name: spotflow/dev/airflow
    image_tag_mutability: IMMUTABLE
    scan_on_push: true
    encryption_configuration:
      encryption_type: AES256
    lifecycle_policy:
      rules:
        - rulePriority: 1
          description: Keep the last 20 images
          selection:
            tagStatus: any
            countType: imageCountMoreThan
            countNumber: 20
          action:
            type: expire
    tags:
      spotflow:cluster: dev
      spotflow:component: ecr_image
  register: repo

- name: Delete it with its images
  spotflow.eks.ecr_repository:
    name: spotflow/dev/airflow
    state: absent
    force_absent: true
"""

RETURN = r"""
repository_uri:
  description: URI of the repository (C(<account>.dkr.ecr.<region>.amazonaws.com/<name>)); empty when there is none (yet).
  returned: always
  type: str
  sample: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/spotflow/dev/airflow
repository_arn:
  description: ARN of the repository; empty when there is none (yet).
  returned: always
  type: str
  sample: arn:aws:ecr:eu-west-1:123456789012:repository/spotflow/dev/airflow
repository:
  description:
    - The repository as C(DescribeRepositories) returns it, snake_case keys, plus its C(tags)
      and its C(lifecycle_policy) (a dictionary, empty when it has none). Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    repository_name:
      description: Name.
      type: str
    repository_uri:
      description: URI.
      type: str
    repository_arn:
      description: ARN.
      type: str
    registry_id:
      description: Account ID of the registry.
      type: str
    image_tag_mutability:
      description: C(MUTABLE) or C(IMMUTABLE).
      type: str
    image_scanning_configuration:
      description: C(scan_on_push).
      type: dict
      sample: {"scan_on_push": true}
    encryption_configuration:
      description: C(encryption_type) and C(kms_key).
      type: dict
      sample: {"encryption_type": "AES256"}
    lifecycle_policy:
      description: The lifecycle policy document.
      type: dict
    tags:
      description: Tags of the repository.
      type: dict
      sample: {"spotflow:cluster": "dev"}
image_count:
  description: With O(state=absent), how many images the repository held when it was (or would be) deleted.
  returned: when state is absent
  type: int
"""

import copy
import json
import math

try:
    import botocore.exceptions
    import botocore.waiter as core_waiter
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.spotflow.eks.plugins.module_utils.aws import error_code
from ansible_collections.spotflow.eks.plugins.module_utils.aws import make_diff
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tag_changes
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_after
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result
from ansible_collections.spotflow.eks.plugins.module_utils.aws import waiter_failure
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import REPOSITORY_NOT_FOUND
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import describe_repository
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import normalize_policy
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import registry_kwargs
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import repository_to_result
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import same_policy

# botocore has no ECR waiter for a deleted repository.
_DELETED_WAITER = {
    "version": 2,
    "waiters": {
        "RepositoryDeleted": {
            "operation": "DescribeRepositories",
            "delay": 2,
            "maxAttempts": 60,
            "acceptors": [
                {"matcher": "error", "expected": REPOSITORY_NOT_FOUND, "state": "success"},
                {"matcher": "path", "argument": "length(repositories) == `0`", "expected": True, "state": "success"},
                {"matcher": "error", "expected": "ThrottlingException", "state": "retry"},
            ],
        }
    },
}


class SpecError(ValueError):
    pass


def policy_document(value):
    """O(lifecycle_policy) (dict or JSON text) as a dict; None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as e:
            raise SpecError("lifecycle_policy is not valid JSON: {0}".format(e))
    if not isinstance(value, dict) or not isinstance(value.get("rules"), list) or not value["rules"]:
        raise SpecError("lifecycle_policy must be a document with a non-empty list of 'rules'")
    return value


def encryption_spec(params):
    """The C(encryptionConfiguration) to create with (botocore shape), or None."""
    enc = params.get("encryption_configuration")
    if not enc:
        return None
    spec = {"encryptionType": enc.get("encryption_type") or "AES256"}
    if spec["encryptionType"] == "AES256":
        if enc.get("kms_key"):
            raise SpecError("encryption_configuration.kms_key is only valid with encryption_type KMS or KMS_DSSE")
    elif enc.get("kms_key"):
        spec["kmsKey"] = enc["kms_key"]
    return spec


def encryption_differences(current, desired, resolve_key):
    """What differs between the repository's encryption and O(encryption_configuration)."""
    if desired is None:
        return []
    current = current or {"encryptionType": "AES256"}
    diffs = []
    if current.get("encryptionType") != desired["encryptionType"]:
        diffs.append("encryption_type {0} -> {1}".format(current.get("encryptionType"), desired["encryptionType"]))
    elif desired.get("kmsKey") and current.get("kmsKey") != desired["kmsKey"]:
        wanted = resolve_key(desired["kmsKey"])
        if current.get("kmsKey") != wanted:
            diffs.append("kms_key {0} -> {1}".format(current.get("kmsKey"), wanted))
    return diffs


def managed_view(repo):
    """The fields this module manages, for diffs and results."""
    if not repo:
        return {}
    return {
        "image_tag_mutability": repo.get("imageTagMutability"),
        "scan_on_push": bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
        "encryption_configuration": to_result(repo.get("encryptionConfiguration")),
        "lifecycle_policy": normalize_policy(repo.get("lifecyclePolicy")),
        "tags": dict(repo.get("tags") or {}),
    }


def repository_result(repo):
    return dict(
        repository=repository_to_result(repo),
        repository_uri=(repo or {}).get("repositoryUri") or "",
        repository_arn=(repo or {}).get("repositoryArn") or "",
    )


class RepositoryManager:
    def __init__(self, module, client, kms_client_factory=None):
        self.module = module
        self.client = client
        self.params = module.params
        self.name = self.params["name"]
        self.what = "ECR repository {0}".format(self.name)
        self._kms_factory = kms_client_factory

    def _ids(self):
        return registry_kwargs(self.params.get("registry_id"))

    def fail(self, e, msg):
        self.module.fail_json_aws(e, msg="{0} ({1})".format(msg, self.what))

    # ------------------------------------------------------------ reads
    def describe(self):
        """The repository with its tags and lifecycle policy, or None."""
        try:
            return describe_repository(self.client, self.name, self.params.get("registry_id"), retry=True)
        except (BotoCoreError, ClientError) as e:
            self.fail(e, "Failed to describe the repository")

    def image_count(self):
        count = 0
        try:
            paginator = self.client.get_paginator("list_images")
            for page in paginator.paginate(repositoryName=self.name, **self._ids()):
                count += len(page.get("imageIds") or [])
        except (BotoCoreError, ClientError) as e:
            if error_code(e) == REPOSITORY_NOT_FOUND:
                return 0
            self.fail(e, "Failed to list the images")
        return count

    def resolve_key(self, key):
        if key.startswith("arn:") and ":key/" in key:
            return key
        if self._kms_factory is None:
            return key
        try:
            return self._kms_factory().describe_key(KeyId=key)["KeyMetadata"]["Arn"]
        except (BotoCoreError, ClientError) as e:
            self.fail(e, "Failed to resolve KMS key {0}".format(key))

    # ------------------------------------------------------------ present
    def desired(self):
        try:
            return dict(
                policy=policy_document(self.params.get("lifecycle_policy")),
                encryption=encryption_spec(self.params),
            )
        except SpecError as e:
            self.module.fail_json(msg=str(e))

    def ensure_present(self):
        desired = self.desired()
        repo = self.describe()
        if repo is None:
            return self.create(desired)

        diffs = encryption_differences(repo.get("encryptionConfiguration"), desired["encryption"], self.resolve_key)
        if diffs:
            self.module.fail_json(
                msg="ECR cannot change the encryption of an existing repository ({0}: {1}). Delete the repository "
                "(its images go with it) and run again, or keep its current encryption.".format(self.what, "; ".join(diffs)),
                **repository_result(repo)
            )

        after = copy.deepcopy(repo)
        actions = []
        mutability = self.params["image_tag_mutability"]
        if repo.get("imageTagMutability") != mutability:
            actions.append(("mutability", mutability))
            after["imageTagMutability"] = mutability
        scan = self.params["scan_on_push"]
        if bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")) != scan:
            actions.append(("scan", scan))
            after["imageScanningConfiguration"] = {"scanOnPush": scan}
        policy = desired["policy"]
        if policy is not None and not same_policy(repo.get("lifecyclePolicy"), policy):
            actions.append(("policy", policy))
            after["lifecyclePolicy"] = policy
        elif policy is None and self.params["purge_lifecycle_policy"] and repo.get("lifecyclePolicy"):
            actions.append(("purge_policy", None))
            after["lifecyclePolicy"] = {}
        to_set, to_unset = tag_changes(repo.get("tags"), self.params.get("tags"), self.params["purge_tags"])
        if to_set or to_unset:
            actions.append(("tags", (to_set, to_unset)))
            after["tags"] = tags_after(repo.get("tags"), to_set, to_unset)

        result = dict(changed=bool(actions), created=False)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(repo), managed_view(after))
        if self.module.check_mode or not actions:
            return dict(result, **repository_result(after))
        self.apply(repo, actions)
        return dict(result, **repository_result(self.describe()))

    def apply(self, repo, actions):
        for kind, value in actions:
            try:
                if kind == "mutability":
                    self.client.put_image_tag_mutability(
                        aws_retry=True, repositoryName=self.name, imageTagMutability=value, **self._ids()
                    )
                elif kind == "scan":
                    self.client.put_image_scanning_configuration(
                        aws_retry=True, repositoryName=self.name, imageScanningConfiguration={"scanOnPush": value}, **self._ids()
                    )
                elif kind == "policy":
                    self.client.put_lifecycle_policy(
                        aws_retry=True, repositoryName=self.name, lifecyclePolicyText=json.dumps(value, sort_keys=True), **self._ids()
                    )
                elif kind == "purge_policy":
                    self.client.delete_lifecycle_policy(aws_retry=True, repositoryName=self.name, **self._ids())
                elif kind == "tags":
                    to_set, to_unset = value
                    if to_unset:
                        self.client.untag_resource(aws_retry=True, resourceArn=repo["repositoryArn"], tagKeys=to_unset)
                    if to_set:
                        self.client.tag_resource(
                            aws_retry=True, resourceArn=repo["repositoryArn"], tags=ansible_dict_to_boto3_tag_list(to_set)
                        )
            except (BotoCoreError, ClientError) as e:
                self.fail(e, "Failed to update the repository ({0})".format(kind))

    def create_request(self, desired):
        request = dict(
            repositoryName=self.name,
            imageTagMutability=self.params["image_tag_mutability"],
            imageScanningConfiguration={"scanOnPush": self.params["scan_on_push"]},
            encryptionConfiguration=desired["encryption"] or {"encryptionType": "AES256"},
            **self._ids()
        )
        if self.params.get("tags"):
            request["tags"] = ansible_dict_to_boto3_tag_list(dict((str(k), str(v)) for k, v in self.params["tags"].items()))
        return request

    def create(self, desired):
        request = self.create_request(desired)
        predicted = dict(
            repositoryName=self.name,
            imageTagMutability=request["imageTagMutability"],
            imageScanningConfiguration=request["imageScanningConfiguration"],
            encryptionConfiguration=request["encryptionConfiguration"],
            tags=boto3_tag_list_to_ansible_dict(request.get("tags") or []),
            lifecyclePolicy=desired["policy"] or {},
        )
        result = dict(changed=True, created=True)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, **repository_result(predicted))
        try:
            self.client.create_repository(aws_retry=True, **request)
        except (BotoCoreError, ClientError) as e:
            self.fail(e, "Failed to create the repository")
        if desired["policy"] is not None:
            self.apply({}, [("policy", desired["policy"])])
        return dict(result, **repository_result(self.describe()))

    # ------------------------------------------------------------ absent
    def ensure_absent(self):
        repo = self.describe()
        if repo is None:
            return dict(changed=False, image_count=0, **repository_result(None))
        count = self.image_count()
        if count and not self.params["force_absent"]:
            self.module.fail_json(
                msg="{0} holds {1} image(s); set force_absent=true to delete it with its images".format(self.what, count),
                image_count=count, **repository_result(repo)
            )
        result = dict(changed=True, image_count=count, **repository_result(None))
        if self.module._diff:
            result["diff"] = make_diff(managed_view(repo), {})
        if self.module.check_mode:
            return result
        try:
            self.client.delete_repository(aws_retry=True, repositoryName=self.name, force=self.params["force_absent"], **self._ids())
        except (BotoCoreError, ClientError) as e:
            if error_code(e) != REPOSITORY_NOT_FOUND:
                self.fail(e, "Failed to delete the repository")
        if self.params["wait"]:
            self.wait_deleted()
        return result

    def wait_deleted(self):
        model = core_waiter.WaiterModel(waiter_config=_DELETED_WAITER).get_waiter("RepositoryDeleted")
        waiter = core_waiter.Waiter(
            "RepositoryDeleted", model, core_waiter.NormalizedOperationMethod(self.client.describe_repositories)
        )
        timeout = self.params["wait_timeout"]
        attempts = max(1, int(math.ceil(float(timeout) / model.delay))) + 1
        try:
            waiter.wait(WaiterConfig={"Delay": model.delay, "MaxAttempts": attempts}, repositoryNames=[self.name], **self._ids())
        except botocore.exceptions.WaiterError as e:
            self.module.fail_json(**waiter_failure(e, self.what, "RepositoryDeleted", timeout))


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        registry_id=dict(type="str"),
        image_tag_mutability=dict(type="str", choices=["MUTABLE", "IMMUTABLE"], default="MUTABLE"),
        scan_on_push=dict(type="bool", default=False),
        encryption_configuration=dict(
            type="dict",
            options=dict(
                encryption_type=dict(type="str", choices=["AES256", "KMS", "KMS_DSSE"], default="AES256"),
                kms_key=dict(type="str", no_log=False),
            ),
        ),
        lifecycle_policy=dict(type="json"),
        purge_lifecycle_policy=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        force_absent=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=120),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())

    def kms_client():
        return module.client("kms", retry_decorator=AWSRetry.jittered_backoff())

    manager = RepositoryManager(module, client, kms_client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
