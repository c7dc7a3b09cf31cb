# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS bearer tokens, made the way `aws eks get-token` makes them, with botocore only.

A token is ``k8s-aws-v1.`` followed by the unpadded base64url encoding of a
presigned STS ``GetCallerIdentity`` URL whose signed headers include
``x-k8s-aws-id: <cluster name>``. The EKS authenticator replays the URL against
STS to learn who signed it; the header binds the token to one cluster.

Usable three ways: imported by the ``spotflow.eks.eks_token`` lookup, imported
by modules, and run as a script from a kubeconfig ``exec`` entry (it then prints
an ``ExecCredential``), so no aws CLI is needed anywhere.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import sys

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_ID_HEADER = "x-k8s-aws-id"
# The URL is presigned for 60 s, as the aws CLI does; the EKS authenticator
# accepts it for 15 minutes after X-Amz-Date. Report expiry a minute early.
URL_EXPIRES_SECONDS = 60
TOKEN_LIFETIME = datetime.timedelta(minutes=14)


def _sts_client(region, endpoint_url=None, profile=None, access_key=None, secret_key=None, session_token=None):
    import botocore.session  # imported late: callers report a missing botocore themselves

    session = botocore.session.Session(profile=profile)
    if access_key and secret_key:
        session.set_credentials(access_key, secret_key, session_token)
    # EKS requires the regional STS endpoint; an explicit endpoint (the local
    # cloud, a VPC endpoint) wins.
    return session.create_client(
        "sts",
        region_name=region,
        endpoint_url=(endpoint_url or os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL")
                      or "https://sts.{0}.amazonaws.com".format(region)),
    )


def generate_token(cluster_name, region, endpoint_url=None, profile=None, access_key=None,
                   secret_key=None, session_token=None, client=None):
    """Return ``(token, expiration)`` for ``cluster_name``; expiration is an aware UTC datetime."""
    if not cluster_name:
        raise ValueError("cluster_name is required to make an EKS token")
    if not region and client is None:
        raise ValueError("region is required to make an EKS token")
    sts = client or _sts_client(region, endpoint_url, profile, access_key, secret_key, session_token)

    def _add_header(request, **kwargs):
        request.headers[CLUSTER_ID_HEADER] = cluster_name

    sts.meta.events.register("before-sign.sts.GetCallerIdentity", _add_header)
    try:
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={}, ExpiresIn=URL_EXPIRES_SECONDS, HttpMethod="GET"
        )
    finally:
        sts.meta.events.unregister("before-sign.sts.GetCallerIdentity", _add_header)
    token = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")
    expiration = datetime.datetime.now(datetime.timezone.utc) + TOKEN_LIFETIME
    return token, expiration


def exec_credential(token, expiration):
    """The client.authentication.k8s.io ExecCredential a kubeconfig exec plugin prints."""
    return {
        "kind": "ExecCredential",
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "spec": {},
        "status": {
            "expirationTimestamp": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "token": token,
        },
    }


def main(argv=None):
    import argparse
    import os

    parser = argparse.ArgumentParser(description="Print an EKS ExecCredential (like `aws eks get-token`).")
    parser.add_argument("--cluster-name", required=True)
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--endpoint-url", default=os.environ.get("AWS_ENDPOINT_URL_STS") or os.environ.get("AWS_ENDPOINT_URL"))
    parser.add_argument("--profile", default=os.environ.get("AWS_PROFILE"))
    args = parser.parse_args(argv)
    token, expiration = generate_token(args.cluster_name, args.region, args.endpoint_url, args.profile)
    sys.stdout.write(json.dumps(exec_credential(token, expiration)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
