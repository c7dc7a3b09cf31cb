"""The local cloud: AWS (moto with our fixes), one real Kubernetes control plane
per EKS cluster, an EKS-like token authenticator and EKS nodes, all on
127.0.0.1. See README.md beside this file.

CLI: ``python -m localcloud up|down|status|env``.
"""
