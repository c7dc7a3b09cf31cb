#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: fis_experiment
version_added: 0.1.0
short_description: Run an AWS Fault Injection Service experiment and wait for its end
description:
  - Creates an FIS experiment template from O(targets) and O(actions), starts an
    experiment from it, waits until the experiment reaches a final state, and
    deletes the template again (unless O(keep_template=true)).
  - Spotflow's Spot interruption drill uses it with the action
    C(aws:ec2:send-spot-instance-interruptions), which interrupts Spot instances
    exactly as EC2 does (a two-minute notice, then termination).
  - This module exists because neither C(amazon.aws) nor C(community.aws) has a
    module for AWS FIS.
  - Running an experiment is an action, not a state, so the module always
    reports C(changed) when it runs one; in check mode it only validates the
    input and resolves nothing.
author:
  - Spotflow maintainers (@spotflow)
options:
  description:
    description: Description of the experiment template.
    type: str
    required: true
  role_arn:
    description: IAM role FIS assumes to act on the targets (trusting C(fis.amazonaws.com)).
    type: str
    required: true
  targets:
    description:
      - FIS targets, in the API's shape (camelCase keys), by target name. See the examples.
    type: dict
    required: true
  actions:
    description:
      - FIS actions, in the API's shape (camelCase keys), by action name. See the examples.
    type: dict
    required: true
  stop_conditions:
    description: Stop conditions, in the API's shape. The default is none.
    type: list
    elements: dict
    default: [{source: none}]
  tags:
    description: Tags on the template and the experiment.
    type: dict
    default: {}
  keep_template:
    description: Keep the experiment template after the experiment ends.
    type: bool
    default: false
  wait:
    description: Wait for the experiment to end (completed, stopped or failed).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the experiment to end.
    type: int
    default: 900
  fail_on_failed:
    description: Fail the task when the experiment ends in a state other than C(completed).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Interrupt one Spot instance of the worker node group
  spotflow.eks.fis_experiment:
    description: Spotflow drill - interrupt one Spot worker node
    role_arn: "{{ fis_role.iam_role.arn }}"
    targets:
      spot:
        resourceType: aws:ec2:spot-instance
        resourceTags:
          eks:nodegroup-name: airflow-spot
        filters:
          - path: State.Name
            values: [running]
        selectionMode: COUNT(1)
    actions:
      interrupt:
        actionId: aws:ec2:send-spot-instance-interruptions
        parameters:
          durationBeforeInterruption: PT2M
        targets:
          SpotInstances: spot
  register: drill
"""

RETURN = r"""
experiment:
  description: The experiment as FIS describes it at the end (snake_cased), when one ran.
  returned: when not in check mode
  type: dict
  contains:
    id:
      description: Experiment id.
      type: str
    state:
      description: Final state, with C(status) and C(reason).
      type: dict
status:
  description: Final status of the experiment (C(completed), C(stopped), C(failed)), or C(running) with O(wait=false).
  returned: when not in check mode
  type: str
template_id:
  description: Id of the experiment template that was used.
  returned: when not in check mode
  type: str
"""

import time
import uuid

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

FINAL = ("completed", "stopped", "failed")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            description=dict(type="str", required=True),
            role_arn=dict(type="str", required=True),
            targets=dict(type="dict", required=True),
            actions=dict(type="dict", required=True),
            stop_conditions=dict(type="list", elements="dict", default=[{"source": "none"}]),
            tags=dict(type="dict", default={}),
            keep_template=dict(type="bool", default=False),
            wait=dict(type="bool", default=True),
            wait_timeout=dict(type="int", default=900),
            fail_on_failed=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name, action in p["actions"].items():
        for target in (action.get("targets") or {}).values():
            if target not in p["targets"]:
                module.fail_json(msg="actions.{0} refers to target {1!r}, which is not in targets".format(name, target))
    if module.check_mode:
        module.exit_json(changed=True, msg="would run an FIS experiment: {0}".format(p["description"]))

    fis = module.client("fis", retry_decorator=AWSRetry.jittered_backoff())
    try:
        template = fis.create_experiment_template(
            clientToken=uuid.uuid4().hex,
            description=p["description"],
            roleArn=p["role_arn"],
            targets=p["targets"],
            actions=p["actions"],
            stopConditions=p["stop_conditions"],
            tags=p["tags"],
        )["experimentTemplate"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to create the FIS experiment template")
    try:
        experiment = fis.start_experiment(clientToken=uuid.uuid4().hex, experimentTemplateId=template["id"],
                                          tags=p["tags"])["experiment"]
        deadline = time.monotonic() + p["wait_timeout"]
        while p["wait"] and experiment["state"]["status"] not in FINAL:
            if time.monotonic() > deadline:
                module.fail_json(msg="FIS experiment {0} still {1} after {2}s".format(
                    experiment["id"], experiment["state"]["status"], p["wait_timeout"]),
                    experiment=camel_dict_to_snake_dict(experiment))
            time.sleep(2)
            experiment = fis.get_experiment(id=experiment["id"])["experiment"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to run the FIS experiment")
    finally:
        if not p["keep_template"]:
            try:
                fis.delete_experiment_template(id=template["id"])
            except (BotoCoreError, ClientError) as e:
                module.warn("could not delete experiment template {0}: {1}".format(template["id"], e))
    status = experiment["state"]["status"]
    result = dict(changed=True, experiment=camel_dict_to_snake_dict(experiment, ignore_list=["tags"]),
                  status=status, template_id=template["id"])
    if p["wait"] and p["fail_on_failed"] and status != "completed":
        reason = experiment["state"].get("reason")
        module.fail_json(msg="FIS experiment {0} ended {1}: {2}".format(experiment["id"], status, reason), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
