"""FIS: aws:ec2:send-spot-instance-interruptions experiments interrupt the targeted instances through the nodes, and
complete when done; an experiment whose role IAM has not propagated yet fails without touching anything.

FIS takes the experiment role at two moments. CreateExperimentTemplate only checks that the caller may pass it
(iam:PassRole), so a role seconds old is accepted there (Terraform's aws_fis_experiment_template creates the
template right after the role, with no retry). StartExperiment is answered at once (the experiment is pending);
FIS then assumes the role to resolve the targets and, when it cannot, the experiment ends ``failed`` with an
AuthorizationFailure and a reason saying so (GetExperiment's state; the FIS user guide's troubleshooting page
lists AuthorizationFailure for an experiment role that cannot act). So: no API error, a failed experiment.
"""

from __future__ import annotations

from typing import Any

from .common import HOOKS
from .iam import unpropagated_roles

SPOT_INTERRUPTION_ACTION = "aws:ec2:send-spot-instance-interruptions"


def unassumable_reason(role_arn: str) -> str:
    """The reason a failed experiment gives when FIS could not assume its role."""
    return (f"Unable to assume role {role_arn}. Verify that the role exists and that its trust policy allows "
            "fis.amazonaws.com to assume it.")


def patch_fis(cfg) -> None:
    from moto.ec2.models import ec2_backends
    from moto.fis.models import Experiment, FISBackend

    done: dict[str, str] = {}  # experiment id -> final status, set by the node simulator
    watched: set[str] = set()
    errors: dict[str, dict[str, Any]] = {}  # experiment id -> its state's reason and error, when ours to say

    orig_start = FISBackend.start_experiment

    def start_experiment(self, *args, **kwargs):
        result = orig_start(self, *args, **kwargs)
        exp_id = result["experiment"]["id"] if "experiment" in result else result["id"]
        experiment = self.experiments[exp_id]
        watched.add(exp_id)
        if unpropagated_roles(self.account_id, [experiment.role_arn]):
            # FIS cannot assume a role IAM has not propagated: the experiment fails, nothing is interrupted
            done[exp_id] = "failed"
            errors[exp_id] = {"reason": unassumable_reason(experiment.role_arn),
                              "error": {"accountId": self.account_id, "code": "AuthorizationFailure"}}
            experiment.spotflow_instance_ids = []
            return result
        ec2 = ec2_backends[self.account_id][self.region_name]
        instance_ids: list[str] = []
        for action in experiment.actions.values():
            if action.get("actionId") != SPOT_INTERRUPTION_ACTION:
                continue
            notice = _iso_duration_seconds((action.get("parameters") or {}).get("durationBeforeInterruption", "PT2M"))
            for target_name in (action.get("targets") or {}).values():
                target = experiment.targets.get(target_name, {})
                instance_ids += _resolve_instances(ec2, target)
        if not instance_ids:
            done[exp_id] = "failed" if experiment.experiment_options.get("emptyTargetResolutionMode") != "skip" else "completed"
        elif HOOKS.interrupt_instances is None:
            done[exp_id] = "failed"
        else:
            # AWS gives two minutes' notice; the local cloud scales it down.
            scaled = min(notice, cfg.spot_notice_seconds)

            def finished(status: str, exp_id=exp_id) -> None:
                done[exp_id] = status

            HOOKS.interrupt_instances(self.account_id, self.region_name, instance_ids, scaled, finished)
        experiment.spotflow_instance_ids = instance_ids
        return result

    FISBackend.start_experiment = start_experiment

    orig_status = Experiment.status

    def status_get(self):
        if self.id in watched:
            return done.get(self.id, "running")
        return orig_status.fget(self)

    def status_set(self, value):
        orig_status.fset(self, value)

    Experiment.status = property(status_get, status_set)

    def with_our_reason(orig):
        def to_dict(self, *args, **kwargs):
            data = orig(self, *args, **kwargs)
            if self.id in errors and data.get("state", {}).get("status") == "failed":
                data["state"] = dict(data["state"], **errors[self.id])
            return data

        return to_dict

    Experiment.to_dict = with_our_reason(Experiment.to_dict)
    Experiment.to_summary_dict = with_our_reason(Experiment.to_summary_dict)


def instance_tags(ec2, instance_id: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [instance_id]})}


def _iso_duration_seconds(text: str) -> float:
    import re

    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", text or "")
    if not m:
        return 120.0
    h, mnt, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mnt * 60 + s


def _resolve_instances(ec2, target: dict[str, Any]) -> list[str]:
    """Instances an FIS target names: by ARN, or by tags and filters, then selection mode."""
    if target.get("resourceType") not in ("aws:ec2:spot-instance", "aws:ec2:instance"):
        return []
    instances = [i for i in ec2.all_instances() if i.state == "running"]
    arns = target.get("resourceArns") or []
    if arns:
        ids = {a.rsplit("/", 1)[-1] for a in arns}
        instances = [i for i in instances if i.id in ids]
    wanted = target.get("resourceTags") or {}
    if wanted:
        instances = [i for i in instances if wanted.items() <= instance_tags(ec2, i.id).items()]
    for f in target.get("filters") or []:
        path, values = f.get("path"), set(f.get("values") or [])
        if path == "State.Name":
            instances = [i for i in instances if i.state in values]
        elif path == "Placement.AvailabilityZone":
            instances = [i for i in instances if i.placement in values]
    instances.sort(key=lambda i: i.id)
    mode = target.get("selectionMode", "ALL")
    if mode.startswith("COUNT("):
        instances = instances[: int(mode[6:-1])]
    elif mode.startswith("PERCENT("):
        n = max(1, len(instances) * int(mode[8:-1]) // 100) if instances else 0
        instances = instances[:n]
    return [i.id for i in instances]

