#!/usr/bin/env python3
"""Print the Airflow admin user's password (or name) that the airflow_app role keeps in AWS Secrets Manager.

    make admin-password                                 # the local cloud
    .venv/bin/python scripts/airflow_admin_password.py  # AWS: any botocore credential source (AWS_PROFILE, ...)

It is printed only here, on request: the playbooks never print it. Endpoint, region and credentials
come from the environment as for any AWS SDK (AWS_ENDPOINT_URL points it at the local cloud).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import boto3
import botocore.exceptions


def admin_secret(cluster: str, secret: str | None = None) -> dict[str, str]:
    """The admin secret's ``{"username", "password"}`` (``secret``: name or ARN, default airflow_app's)."""
    value = boto3.client("secretsmanager").get_secret_value(SecretId=secret or f"spotflow/{cluster}/airflow/admin")
    return json.loads(value["SecretString"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cluster", default=os.environ.get("SPOTFLOW_CLUSTER_NAME", "spotflow"),
                        help="EKS cluster name (default: $SPOTFLOW_CLUSTER_NAME or spotflow)")
    parser.add_argument("--secret", help="secret name or ARN (default: spotflow/<cluster>/airflow/admin, "
                                         "airflow_app_admin_secret_name's default)")
    parser.add_argument("--field", choices=("password", "username"), default="password")
    args = parser.parse_args(argv)
    secret = args.secret or f"spotflow/{args.cluster}/airflow/admin"
    try:
        value = admin_secret(args.cluster, secret)
    except botocore.exceptions.BotoCoreError as err:
        print(f"cannot read secret {secret}: {err}", file=sys.stderr)
        return 1
    except botocore.exceptions.ClientError as err:
        print(f"cannot read secret {secret}: {err.response['Error'].get('Message') or err}"
              " (has site.yml run for this cluster?)", file=sys.stderr)
        return 1
    print(value[args.field])
    return 0


if __name__ == "__main__":
    sys.exit(main())
