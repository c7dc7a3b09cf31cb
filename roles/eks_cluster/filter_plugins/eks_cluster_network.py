# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the eks_cluster role: CIDR checks, the Availability Zones and the subnet plan of the VPC it creates,
and the subnet and route table ids tasks/network_vpc.yml reads back (were {% set %} loops there), and whether the
VPC, internet gateway, subnets and route tables it found already match the plan (only those that do not are
converged).

ansible.utils (ipaddr, ipsubnet) is not one of the project's collections, and the
plan is a few lines of the standard library's ``ipaddress``.
"""

from __future__ import annotations

import ipaddress


def cidr_errors(value, name="cidr", min_prefix=0, max_prefix=32):
    """Problems with one IPv4 CIDR, as messages naming ``name``; [] when fine."""
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except (ValueError, TypeError) as e:
        return ["{0}: {1!r} is not an IPv4 CIDR like 10.42.0.0/16 ({2})".format(name, value, e)]
    if "/" not in str(value):
        return ["{0}: {1!r} needs a prefix length, like {1}/32".format(name, value)]
    if not min_prefix <= net.prefixlen <= max_prefix:
        return ["{0}: {1} must have a prefix length between /{2} and /{3}".format(name, value, min_prefix, max_prefix)]
    return []


def eks_cluster_cidr_errors(values, name="cidr", min_prefix=0, max_prefix=32):
    """``cidr_errors`` for one value or a list of values."""
    if isinstance(values, (list, tuple)):
        out = []
        for index, value in enumerate(values):
            out.extend(cidr_errors(value, "{0}[{1}]".format(name, index), min_prefix, max_prefix))
        return out
    return cidr_errors(values, name, min_prefix, max_prefix)


def eks_cluster_subnet_plan(vpc_cidr, count, private=None, public=None):
    """``{"private": [...], "public": [...], "errors": [...]}`` for a VPC across ``count`` AZs.

    Without explicit CIDRs the VPC is cut in four equal blocks: the first ``count``
    (at most 3) are the private subnets (big: nodes and pods take their IPs from
    them with the VPC CNI) and the last block is cut in four again for the public
    subnets (load balancers and NAT gateways only). A /16 gives three /18 private
    and three /20 public subnets. Explicit lists are checked instead: valid CIDRs,
    inside the VPC, ``count`` of each, no overlaps.
    """
    count = int(count)
    errors = cidr_errors(vpc_cidr, "eks_cluster_vpc_cidr", 16, 20)
    if errors:
        return {"private": [], "public": [], "errors": errors}
    if not 2 <= count <= 3:
        return {"private": [], "public": [], "errors": ["the VPC needs 2 or 3 Availability Zones, got {0}".format(count)]}
    vpc = ipaddress.IPv4Network(vpc_cidr)
    private = list(private or [])
    public = list(public or [])
    if not private:
        blocks = list(vpc.subnets(prefixlen_diff=2))
        private = [str(b) for b in blocks[:count]]
    if not public:
        public = [str(b) for b in list(vpc.subnets(prefixlen_diff=2))[3].subnets(prefixlen_diff=2)][:count]
    for name, values in (("eks_cluster_private_subnet_cidrs", private), ("eks_cluster_public_subnet_cidrs", public)):
        if len(values) != count:
            errors.append("{0} must list {1} CIDRs (one per Availability Zone), got {2}".format(name, count, len(values)))
        errors.extend(eks_cluster_cidr_errors(values, name, 16, 28))
    if errors:
        return {"private": private, "public": public, "errors": errors}
    nets = [("eks_cluster_private_subnet_cidrs", c, ipaddress.IPv4Network(c)) for c in private]
    nets += [("eks_cluster_public_subnet_cidrs", c, ipaddress.IPv4Network(c)) for c in public]
    for name, cidr, net in nets:
        if not net.subnet_of(vpc):
            errors.append("{0}: subnet {1} is not inside eks_cluster_vpc_cidr {2}".format(name, cidr, vpc_cidr))
    for i, (name_a, a, na) in enumerate(nets):
        for name_b, b, nb in nets[i + 1:]:
            if na.overlaps(nb):
                where = name_a if name_a == name_b else "{0} and {1}".format(name_a, name_b)
                errors.append("{0}: subnets {1} and {2} overlap".format(where, a, b))
    return {"private": private, "public": public, "errors": errors}


# Zone IDs where EKS places no control plane: CreateCluster answers
# UnsupportedAvailabilityZoneException for subnets there (EKS user guide, cluster VPC
# requirements). By ID, not name: which name an ID has differs per account.
EKS_UNSUPPORTED_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")


def eks_cluster_zone_plan(zones, wanted=None, region="", name="eks_cluster_availability_zones", count=3):
    """The Availability Zones for the VPC: ``wanted`` checked, else the first ``count`` (by name) that
    support EKS. ``zones`` as amazon.aws.aws_az_info returns them (the network read's
    ``availability_zones``). {"zones": [...], "errors": [...]}."""
    ids = dict((z.get("zone_name"), z.get("zone_id")) for z in zones or [])
    supported = sorted(n for n, i in ids.items() if i not in EKS_UNSUPPORTED_ZONE_IDS)
    errors = []
    for index, zone in enumerate(wanted or []):
        if zone not in ids:
            errors.append("{0}[{1}]: {2!r} is not an available Availability Zone of {3} ({4})".format(
                name, index, zone, region, ", ".join(sorted(ids))))
        elif ids[zone] in EKS_UNSUPPORTED_ZONE_IDS:
            errors.append("{0}[{1}]: {2} (zone ID {3}) has no EKS control planes; choose among {4}".format(
                name, index, zone, ids[zone], ", ".join(supported)))
    chosen = list(wanted) if wanted else supported[:count]
    if not wanted and len(chosen) < 2:
        errors.append("{0}: {1} has {2} Availability Zone(s) that support EKS ({3}); EKS needs two".format(
            name, region, len(chosen), ", ".join(chosen) or "none"))
    return {"zones": chosen, "errors": errors}


def eks_cluster_subnet_items(azs, plan):
    """The subnets to converge, per AZ its private then its public one: ``[{"tier", "az", "cidr"}, ...]``.

    ``plan`` is what ``eks_cluster_subnet_plan`` returned (checked), with a CIDR per AZ of each tier."""
    azs = list(azs or [])
    for tier in ("private", "public"):
        if len(plan.get(tier) or []) != len(azs):
            raise ValueError("eks_cluster_subnet_items: {0} {1} CIDR(s) for {2} Availability Zone(s) ({3})".format(
                len(plan.get(tier) or []), tier, len(azs), ", ".join(azs)))
    out = []
    for index, az in enumerate(azs):
        out.append({"tier": "private", "az": az, "cidr": plan["private"][index]})
        out.append({"tier": "public", "az": az, "cidr": plan["public"][index]})
    return out


def eks_cluster_subnet_state(items, found, tags, cluster_name):
    """Each planned subnet with what the network read (spotflow.eks.ec2_vpc_network_info) found in the VPC, so that
    only the missing or drifted ones are converged (no ec2_vpc_subnet call on a converged VPC).

    ``items`` from ``eks_cluster_subnet_items``; ``tags`` the role's tags. Returns, per item,
    ``{"item": {tier, az, cidr, map_public, tags}, "subnet": {"id": id or ""}, "in_sync": bool}`` (the shape of a
    looped ec2_vpc_subnet result, for ``eks_cluster_subnet_ids``): in sync when a subnet of that CIDR is available
    in that zone with exactly those tags (the task purges others) and public IPs on launch only in the public tier."""
    by_cidr = dict((s.get("cidr_block"), s) for s in found or [])
    out = []
    for item in items or []:
        tier = item["tier"]
        want = dict(item, map_public=tier == "public", tags=dict(tags or {}, **{
            "Name": "{0}-{1}-{2}".format(cluster_name, tier, item["az"]),
            "spotflow:subnet-tier": tier,
            "kubernetes.io/cluster/" + cluster_name: "shared",
            "kubernetes.io/role/elb" if tier == "public" else "kubernetes.io/role/internal-elb": "1",
        }))
        have = by_cidr.get(item["cidr"]) or {}
        in_sync = bool(have) and (
            have.get("availability_zone") == item["az"]
            and have.get("state") == "available"
            and bool(have.get("map_public_ip_on_launch")) == want["map_public"]
            and (have.get("tags") or {}) == want["tags"])
        out.append({"item": want, "subnet": {"id": have.get("id", "") if have else ""}, "in_sync": in_sync})
    return out


def eks_cluster_subnet_ids(results, azs):
    """The subnet ids from the results of the looped ec2_vpc_subnet task (items from ``eks_cluster_subnet_items``).

    ``{"ids": {"private/<az>": id, "public/<az>": id}, "private": [ids in AZ order], "public": [...]}``;
    a subnet without an id (new, in check mode) is left out."""
    ids = {}
    for r in results or []:
        subnet_id = (r.get("subnet") or {}).get("id") or ""
        if subnet_id:
            ids["{0}/{1}".format(r["item"]["tier"], r["item"]["az"])] = subnet_id
    return {
        "ids": ids,
        "private": [ids["private/" + az] for az in azs or [] if "private/" + az in ids],
        "public": [ids["public/" + az] for az in azs or [] if "public/" + az in ids],
    }


def eks_cluster_route_table_ids(route_tables):
    """``{Name tag: route table id}`` of the tables the network read found; tables without a Name are left out."""
    return dict((t["tags"]["Name"], t["id"]) for t in route_tables or [] if "Name" in (t.get("tags") or {}))


def eks_cluster_route_table_in_sync(route_tables, name, tags, subnets, routes):
    """True when the table named ``name`` (as ``eks_cluster_route_table_ids`` picks it) already has exactly ``tags``,
    is associated with exactly ``subnets`` and holds exactly ``routes`` besides the VPC's local one, all active:
    what ec2_vpc_route_table would converge with purge_tags, purge_subnets and purge_routes. ``routes`` in the
    module's form (``dest`` and ``gateway_id`` or ``nat_gateway_id``); ``route_tables`` in ec2_vpc_route_table_info's
    shape (the network read's)."""
    named = [t for t in route_tables or [] if (t.get("tags") or {}).get("Name") == name]
    if not named:
        return False
    table = named[-1]
    targets = ("gateway_id", "nat_gateway_id")
    have_routes = set()
    for r in table.get("routes") or []:
        if r.get("gateway_id") == "local":
            continue
        if r.get("state", "active") != "active":
            return False
        have_routes.add((r.get("destination_cidr_block"),) + tuple(r.get(k) or "" for k in targets))
    want_routes = set((r["dest"],) + tuple(r.get(k) or "" for k in targets) for r in routes or [])
    have_subnets = set(a.get("subnet_id") for a in table.get("associations") or []
                       if not a.get("main") and a.get("subnet_id")
                       and (a.get("association_state") or {}).get("state", "associated") == "associated")
    return ((table.get("tags") or {}) == dict(tags or {}) and have_subnets == set(subnets or [])
            and have_routes == want_routes)


def eks_cluster_one_in_sync(found, tags, **attributes):
    """True when ``found`` (VPCs or internet gateways from spotflow.eks.ec2_vpc_network_info) is exactly one, with
    exactly ``tags`` and each of ``attributes`` (``enable_dns_support=True``): what ec2_vpc_net or ec2_vpc_igw with
    purge_tags would leave unchanged. An internet gateway must also be attached."""
    if len(found or []) != 1:
        return False
    one = found[0]
    attached = "attachments" not in one or bool(one["attachments"]) and all(
        a.get("state") in ("available", "attached") for a in one["attachments"])
    return ((one.get("tags") or {}) == dict(tags or {}) and attached
            and all(one.get(k) == v for k, v in attributes.items()))


class FilterModule:
    def filters(self):
        return {
            "eks_cluster_subnet_plan": eks_cluster_subnet_plan,
            "eks_cluster_cidr_errors": eks_cluster_cidr_errors,
            "eks_cluster_zone_plan": eks_cluster_zone_plan,
            "eks_cluster_subnet_items": eks_cluster_subnet_items,
            "eks_cluster_subnet_ids": eks_cluster_subnet_ids,
            "eks_cluster_route_table_ids": eks_cluster_route_table_ids,
            "eks_cluster_subnet_state": eks_cluster_subnet_state,
            "eks_cluster_route_table_in_sync": eks_cluster_route_table_in_sync,
            "eks_cluster_one_in_sync": eks_cluster_one_in_sync,
        }
