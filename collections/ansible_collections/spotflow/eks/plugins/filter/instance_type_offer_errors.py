# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two filters on where instance types are offered (their documentation: the .yml files of the same names):

- spotflow.eks.instance_type_offer_errors: types the region lacks or the AMI type cannot boot;
- spotflow.eks.instance_type_zone_errors: types a zone of the node group's subnets lacks.
"""

from __future__ import annotations


def ami_architecture(ami_type):
    """``arm64``, ``x86_64``, or None when the AMI type does not say (CUSTOM)."""
    upper = (ami_type or "").upper()
    if "ARM_64" in upper:
        return "arm64"
    if "X86_64" in upper:
        return "x86_64"
    return None


def _size(t):
    return int((t.get("v_cpu_info") or {}).get("default_v_cpus") or 0), int((t.get("memory_info") or {}).get("size_in_mi_b") or 0)


def instance_type_offer_errors(found, wanted, name, ami_type, ami_name, region, spot=False, memory_tolerance=None):
    types = dict((t.get("instance_type"), t) for t in found or [])
    wanted = list(wanted or [])
    missing = [t for t in wanted if t not in types]
    if missing:
        return ["{0}: not offered in {1}: {2}".format(name, region, ", ".join(missing))]
    errors = []
    if memory_tolerance is not None and wanted:
        sizes = [_size(types[t]) for t in wanted]
        vcpus, mems = [size[0] for size in sizes], [size[1] for size in sizes]
        if len(set(vcpus)) > 1 or (max(mems) - min(mems)) * 100 > int(memory_tolerance) * min(mems):
            within = " (memory within {0}%)".format(memory_tolerance) if int(memory_tolerance) > 0 else ""
            errors.append("{0} must have equal size{1}: {2}".format(name, within, ", ".join(
                "{0}={1} vCPU/{2:g} GiB".format(t, v, m / 1024.0) for t, (v, m) in zip(wanted, sizes))))
    if spot:
        no_spot = [t for t in wanted if "spot" not in (types[t].get("supported_usage_classes") or ["spot"])]
        if no_spot:
            errors.append("{0}: not offered as Spot: {1}".format(name, ", ".join(no_spot)))
    arch = ami_architecture(ami_type)
    archs = dict((t, (types[t].get("processor_info") or {}).get("supported_architectures") or []) for t in wanted)
    wrong = ["{0} ({1})".format(t, "/".join(archs[t])) for t in wanted if arch and arch not in archs[t]]
    if wrong:
        errors.append("{0}: {1} {2} runs on {3} instance types only, not {4}".format(
            name, ami_name, ami_type, arch, ", ".join(wrong)))
    return errors


# Which key of a subnet (amazon.aws.ec2_vpc_subnet_info) holds its location, per offering location type.
SUBNET_ZONE_KEYS = {"availability-zone": "availability_zone", "availability-zone-id": "availability_zone_id"}


def _zones_of(subnets, location_type):
    """``[(zone, [subnet ids])]`` in first-seen order, from what instance_type_zone_errors takes as subnets."""
    if isinstance(subnets, dict):
        pairs = [(zone, label) for label, zone in subnets.items()]
    else:
        key = SUBNET_ZONE_KEYS[location_type]
        pairs = []
        for subnet in subnets or []:
            if isinstance(subnet, dict):
                label = subnet.get("subnet_id") or subnet.get("id") or ""
                if not subnet.get(key):
                    raise ValueError("instance_type_zone_errors: subnet {0} has no {1} (the offerings are by {2})".format(
                        label or subnet, key, location_type))
                pairs.append((subnet[key], label))
            else:
                pairs.append((subnet, ""))  # a zone itself (subnets still to be created)
    zones = {}
    for zone, label in pairs:
        labels = zones.setdefault(zone, [])
        if label and label not in labels:
            labels.append(label)
    return list(zones.items())


def instance_type_zone_errors(offerings, wanted, name, subnets, location_type=None):
    """Messages for instance types that a zone of the node group's subnets does not offer; [] when none.

    ``offerings``: spotflow.eks.ec2_instance_type_offering_info's ``offerings`` (by zone name or zone ID).
    ``subnets``: the node group's subnets as amazon.aws.ec2_vpc_subnet_info returns them (``id`` or
    ``subnet_id``, ``availability_zone``, ``availability_zone_id``), or ``{subnet id: zone}``, or the zones
    themselves (subnets not created yet). ``location_type`` defaults to the offerings' own.

    What is required, and why: EVERY type in EVERY zone of the group's subnets, Spot groups included. EKS
    checks this itself when the node group is created: CreateNodegroup (and CloudFormation's
    AWS::EKS::Nodegroup) answers InvalidRequestException "Your requested instance type (m4.xlarge) is not
    supported in your requested Availability Zone (us-west-2d). Please retry your request by not specifying
    an Availability Zone or choosing us-west-2a, ...", also for a Spot group of several types where the
    others are offered there (ec2-spot-workshops#154, eksctl#6461; eksctl 0.140 since picks only zones
    offering all the types). An Auto Scaling group alone would skip the type in that zone; EKS does not
    get that far. So "offered in at least one zone" would pass groups EKS refuses. A type offered in none
    of the zones is named too (the region check usually names it first).
    """
    offerings = list(offerings or [])
    if location_type is None:
        found = sorted(set(o.get("location_type") or "availability-zone" for o in offerings))
        if len(found) > 1:
            raise ValueError("instance_type_zone_errors: offerings of several location types ({0}); give location_type".format(
                ", ".join(found)))
        location_type = found[0] if found else "availability-zone"
    if location_type not in SUBNET_ZONE_KEYS:
        raise ValueError("instance_type_zone_errors: offerings by {0!r} say nothing about zones; read them by "
                         "availability-zone or availability-zone-id".format(location_type))
    offered = set((o.get("instance_type"), o.get("location")) for o in offerings
                  if o.get("location_type", location_type) == location_type)
    zones = _zones_of(subnets, location_type)
    errors = []
    for instance_type in dict.fromkeys(wanted or []):
        missing = ["{0} (zone of {1})".format(zone, ", ".join(labels)) if labels else zone
                   for zone, labels in zones if (instance_type, zone) not in offered]
        if missing:
            errors.append("{0}: {1} is not offered in {2}; every type must be offered in every zone of the node "
                          "group's subnets".format(name, instance_type, ", ".join(missing)))
    return errors


class FilterModule:
    def filters(self):
        return {"instance_type_offer_errors": instance_type_offer_errors,
                "instance_type_zone_errors": instance_type_zone_errors}
