# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon ECR reads shared by ecr_repository, ecr_repository_info and
ecr_image_build: a repository with its tags and lifecycle policy, images by
tag, the lifecycle policy in a canonical form, and results in the shape the
modules return.

Every function takes a boto3 ECR client (or a retrying wrapper, or a test
double) and raises botocore's errors; the modules turn them into
``fail_json_aws``.
"""

from __future__ import annotations

import copy
import json

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.spotflow.eks.plugins.module_utils.aws import error_code
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result

REPOSITORY_NOT_FOUND = "RepositoryNotFoundException"
IMAGE_NOT_FOUND = "ImageNotFoundException"
POLICY_NOT_FOUND = "LifecyclePolicyNotFoundException"


def registry_kwargs(registry_id, retry=False):
    """Request arguments for the registry, plus ``aws_retry=True`` for a client wrapped by AWSRetry."""
    kwargs = {"registryId": registry_id} if registry_id else {}
    if retry:
        kwargs["aws_retry"] = True
    return kwargs


def normalize_policy(document):
    """A lifecycle policy document in a canonical form (rules sorted by rulePriority); {} for none."""
    if not document:
        return {}
    doc = copy.deepcopy(document)
    rules = doc.get("rules")
    if isinstance(rules, list):
        doc["rules"] = sorted(rules, key=lambda r: (r.get("rulePriority", 0) if isinstance(r, dict) else 0))
    return doc


def same_policy(current, desired):
    return json.dumps(normalize_policy(current), sort_keys=True) == json.dumps(normalize_policy(desired), sort_keys=True)


def describe_repository(client, name, registry_id=None, retry=False):
    """The repository (botocore shape) plus ``tags`` (dict) and ``lifecyclePolicy`` (dict), or None."""
    try:
        found = client.describe_repositories(repositoryNames=[name], **registry_kwargs(registry_id, retry))
    except Exception as e:  # botocore ClientError; anything else propagates below
        if error_code(e) == REPOSITORY_NOT_FOUND:
            return None
        raise
    repos = found.get("repositories") or []
    if not repos:
        return None
    repo = dict(repos[0])
    repo.pop("ResponseMetadata", None)
    repo["tags"] = boto3_tag_list_to_ansible_dict(
        client.list_tags_for_resource(resourceArn=repo["repositoryArn"], **registry_kwargs(None, retry)).get("tags") or []
    )
    repo["lifecyclePolicy"] = read_lifecycle_policy(client, name, registry_id, retry)
    return repo


def read_lifecycle_policy(client, name, registry_id=None, retry=False):
    try:
        answer = client.get_lifecycle_policy(repositoryName=name, **registry_kwargs(registry_id, retry))
    except Exception as e:
        if error_code(e) in (POLICY_NOT_FOUND, REPOSITORY_NOT_FOUND):
            return {}
        raise
    text = answer.get("lifecyclePolicyText") or ""
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {"unparsable": text}


def find_image(client, name, tag, registry_id=None, retry=False):
    """The C(imageDetails) entry of ``name:tag``, or None (also when the repository is missing)."""
    try:
        answer = client.describe_images(
            repositoryName=name, imageIds=[{"imageTag": tag}], **registry_kwargs(registry_id, retry)
        )
    except Exception as e:
        if error_code(e) in (IMAGE_NOT_FOUND, REPOSITORY_NOT_FOUND):
            return None
        raise
    details = [d for d in answer.get("imageDetails") or [] if tag in (d.get("imageTags") or [])]
    return details[0] if details else None


def list_images(client, name, registry_id=None):
    """Every C(imageDetails) entry of the repository, newest push first ([] when it is missing)."""
    images = []
    try:
        paginator = client.get_paginator("describe_images")
        for page in paginator.paginate(repositoryName=name, **registry_kwargs(registry_id)):
            images.extend(page.get("imageDetails") or [])
    except Exception as e:
        if error_code(e) == REPOSITORY_NOT_FOUND:
            return []
        raise
    return sorted(images, key=lambda d: str(d.get("imagePushedAt") or ""), reverse=True)


def repository_to_result(repo):
    """A repository from describe_repository() as a module result: snake_case keys,
    ``tags`` as given, ``lifecycle_policy`` in canonical form; {} for None."""
    if not repo:
        return {}
    body = dict((k, v) for k, v in repo.items() if k not in ("tags", "lifecyclePolicy"))
    result = to_result(body)
    result["tags"] = dict(repo.get("tags") or {})
    result["lifecycle_policy"] = normalize_policy(repo.get("lifecyclePolicy"))
    return result


def image_to_result(image):
    """An C(imageDetails) entry as a module result (snake_case, ISO dates); {} for None."""
    if not image:
        return {}
    return to_result(image)
