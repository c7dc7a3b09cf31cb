"""Networks of the local cloud: one network namespace per EKS cluster, with no
route off it, and the only ways in and out: port forwarders and an HTTP
CONNECT proxy that the local cloud itself runs (see network.py)."""
