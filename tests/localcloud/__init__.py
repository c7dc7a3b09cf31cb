"""The local cloud: AWS (moto with our fixes), a real Kubernetes control plane,
an EKS-like token webhook and simulated EKS nodes, all on 127.0.0.1.

CLI: ``python -m tests.localcloud up|down|status|env``.
"""
