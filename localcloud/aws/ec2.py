"""EC2: what AWS refuses to delete while something still uses it, and moto deletes anyway.

- DeleteSubnet: not while a network interface is in the subnet.
- DeleteSecurityGroup: not while a network interface uses the group.
- DeleteVpc: not while a security group other than the default one is in it.

And as AWS, a terminated instance's primary network interface
(DeleteOnTermination) and a deleted NAT gateway's interface go with them; moto
keeps both, which would hold their subnets forever.
EKS leaves its control-plane interfaces behind for a while after DeleteCluster
(localcloud/aws/eks.py plays that), so teardown has to wait for them.
"""

from __future__ import annotations


def patch_ec2_dependencies() -> None:
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.instances import Instance

    orig_terminate = Instance.terminate

    def terminate(self):
        if 0 in self.nics:
            self.nics[0].delete_on_termination = True
        return orig_terminate(self)

    Instance.terminate = terminate

    orig_delete_nat = EC2Backend.delete_nat_gateway

    def delete_nat_gateway(self, nat_gateway_id):
        """As AWS: a deleted NAT gateway's network interface goes with it (moto keeps it)."""
        gateway = orig_delete_nat(self, nat_gateway_id)
        eni = getattr(gateway, "_eni", None)
        if eni is not None and eni.id in self.enis:
            self.delete_network_interface(eni.id)
        return gateway

    EC2Backend.delete_nat_gateway = delete_nat_gateway

    orig_delete_subnet = EC2Backend.delete_subnet

    def delete_subnet(self, subnet_id):
        users = [e.id for e in self.enis.values() if e.subnet.id == subnet_id]
        if users:
            raise DependencyViolationError(f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
        return orig_delete_subnet(self, subnet_id)

    EC2Backend.delete_subnet = delete_subnet

    orig_delete_sg = EC2Backend.delete_security_group

    def delete_security_group(self, name=None, group_id=None):
        if group_id and any(group_id in [g.id for g in e.group_set] for e in self.enis.values()):
            raise DependencyViolationError(f"resource {group_id} has a dependent object")
        return orig_delete_sg(self, name=name, group_id=group_id)

    EC2Backend.delete_security_group = delete_security_group

    orig_delete_vpc = EC2Backend.delete_vpc

    def delete_vpc(self, vpc_id):
        groups = [g.id for g in self.describe_security_groups(filters={"vpc-id": [vpc_id]}) if g.name != "default"]
        if groups:
            raise DependencyViolationError(f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
        return orig_delete_vpc(self, vpc_id)

    EC2Backend.delete_vpc = delete_vpc
