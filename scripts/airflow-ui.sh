#!/usr/bin/env bash
# make ui: forward the Airflow UI (the private airflow-api-server Service) to
# http://127.0.0.1:$SPOTFLOW_UI_PORT (default 8080) until Ctrl-C, through the
# Kubernetes API with the kubeconfig eks_cluster wrote (EKS token): nothing is
# opened in the cluster or its VPC. The same on AWS and on the local cloud.
#
# Environment: SPOTFLOW_CLUSTER_NAME (default spotflow), KUBECONFIG (default
# ~/.spotflow/<cluster>/kubeconfig), SPOTFLOW_AIRFLOW_NAMESPACE (default airflow),
# SPOTFLOW_UI_PORT (default 8080).
set -euo pipefail
cluster="${SPOTFLOW_CLUSTER_NAME:-spotflow}"
kubeconfig="${KUBECONFIG:-$HOME/.spotflow/$cluster/kubeconfig}"
namespace="${SPOTFLOW_AIRFLOW_NAMESPACE:-airflow}"
port="${SPOTFLOW_UI_PORT:-8080}"
if [[ ! -r "$kubeconfig" ]]; then
  echo "make ui: no kubeconfig at $kubeconfig: run make site first (or set KUBECONFIG)" >&2
  exit 1
fi
cat <<MSG
Airflow UI     http://127.0.0.1:$port  (user admin)
Password       make admin-password   (AWS Secrets Manager secret spotflow/$cluster/airflow/admin;
               on AWS: .venv/bin/python scripts/airflow_admin_password.py --cluster $cluster)
Try it         DAGs -> spotflow_smoke or spot_bash_fanout -> Trigger; then watch the worker pods land on Spot:
               kubectl --kubeconfig $kubeconfig -n $namespace get pods -o wide -w
Ctrl-C stops the forward.
MSG
exec kubectl --kubeconfig "$kubeconfig" -n "$namespace" port-forward --address 127.0.0.1 svc/airflow-api-server "$port:8080"
