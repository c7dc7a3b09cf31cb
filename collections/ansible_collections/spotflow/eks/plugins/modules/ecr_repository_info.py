#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_repository_info
version_added: 0.1.0
short_description: Read Amazon ECR repositories, their settings, tags, lifecycle policy and images
description:
  - Read-only. Describes named ECR repositories (or every repository of the registry) with
    their tags and lifecycle policy and, on request, their images.
  - A named repository that does not exist is simply not in the result.
  - Neither amazon.aws nor community.aws has an ECR info module.
author:
  - Spotflow maintainers (@spotflow)
options:
  names:
    description:
      - Repository names. Left out, every repository of the registry.
    type: list
    elements: str
    aliases: [name]
  registry_id:
    description:
      - AWS account ID of the registry. Default is the caller's account.
    type: str
  include_images:
    description:
      - Also return each repository's images (C(DescribeImages)), newest push first.
    type: bool
    default: false
notes:
  - Member of the action group C(spotflow.eks.aws).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: N/A
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: Read the Airflow repository and its images
  spotflow.eks.ecr_repository_info:
    names: [spotflow/dev/airflow]
    include_images: true
  register: repo_info

- name: Newest image
  ansible.builtin.debug:
    msg: "{{ repo_info.repositories[0].images[0].image_tags }}"
  when: repo_info.repositories | length > 0
"""

RETURN = r"""
repositories:
  description: The repositories found, in the order of O(names) (or by name).
  returned: always
  type: list
  elements: dict
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
    encryption_configuration:
      description: C(encryption_type) and C(kms_key).
      type: dict
    lifecycle_policy:
      description: The lifecycle policy document (rules in C(rulePriority) order); empty when none.
      type: dict
    tags:
      description: Tags.
      type: dict
    images:
      description:
        - With O(include_images=true), C(DescribeImages)'s C(imageDetails), snake_case
          (C(image_digest), C(image_tags), C(image_pushed_at), C(image_size_in_bytes),
          C(image_manifest_media_type), ...), newest push first.
      type: list
      elements: dict
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.ecr import describe_repository
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import image_to_result
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import list_images
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import registry_kwargs
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import repository_to_result


def all_names(client, registry_id):
    names = []
    paginator = client.get_paginator("describe_repositories")
    for page in paginator.paginate(**registry_kwargs(registry_id)):
        names.extend(r["repositoryName"] for r in page.get("repositories") or [])
    return sorted(names)


def read(client, names, registry_id, include_images):
    repositories = []
    for name in names:
        repo = describe_repository(client, name, registry_id, retry=True)
        if repo is None:
            continue
        result = repository_to_result(repo)
        if include_images:
            result["images"] = [image_to_result(i) for i in list_images(client, name, registry_id)]
        repositories.append(result)
    return repositories


def main():
    argument_spec = dict(
        names=dict(type="list", elements="str", aliases=["name"]),
        registry_id=dict(type="str"),
        include_images=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    registry_id = module.params.get("registry_id")
    try:
        names = module.params.get("names")
        if names is None:
            names = all_names(client, registry_id)
        repositories = read(client, names, registry_id, module.params["include_images"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read ECR repositories")
    module.exit_json(changed=False, repositories=repositories)


if __name__ == "__main__":
    main()
