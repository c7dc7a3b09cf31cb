"""A local CA and the certificates the control plane needs (cryptography only)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 365


def _write_key(key, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    )
    path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _issue(ca_key, ca_cert, key, subject, *, server_names=(), client=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
        sans = []
        for n in server_names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    b = b.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    return b.sign(ca_key, hashes.SHA256())


def ensure_pki(pki_dir: Path, ca_name: str = "spotflow-localcloud-ca", service_ip: str = "10.100.0.1") -> None:
    """Create the CA, the apiserver serving cert, client certs and the SA keys (once)."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    if (pki_dir / "complete").exists():
        return
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name(ca_name))
        .issuer_name(_name(ca_name))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS * 5))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(ca_key, pki_dir / "ca.key")
    (pki_dir / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def issue(name, subject, **kw):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue(ca_key, ca_cert, key, subject, **kw)
        _write_key(key, pki_dir / f"{name}.key")
        (pki_dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    issue(
        "apiserver",
        _name("kube-apiserver"),
        server=True,
        server_names=["127.0.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                      "kubernetes.default.svc.cluster.local", service_ip],
    )
    # The local cloud's own identity (node simulator, tests): system:masters.
    issue("admin", _name("spotflow-localcloud-admin", "system:masters"), client=True)
    issue("controller-manager", _name("system:kube-controller-manager"), client=True)
    issue("scheduler", _name("system:kube-scheduler"), client=True)
    issue("kube-proxy", _name("system:kube-proxy"), client=True)  # bound to system:node-proxier by default
    # apiserver -> webhook is plain http on loopback; no cert needed.
    sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(sa, pki_dir / "sa.key")
    (pki_dir / "sa.pub").write_bytes(
        sa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    (pki_dir / "complete").write_text("ok\n")


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    """A kubeconfig with a client certificate (for the local cloud's own components)."""
    import yaml

    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "localcloud", "cluster": {"server": server, "certificate-authority": str(ca)}}],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": user, "context": {"cluster": "localcloud", "user": user}}],
            "current-context": user,
        }
    )


def issue_client(pki_dir: Path, out_dir: Path, name: str, cn: str, org: str | None = None) -> tuple[Path, Path]:
    """A client certificate ``out_dir/name.{crt,key}`` signed by the CA in ``pki_dir`` (a kubelet's, say)."""
    ca_key = serialization.load_pem_private_key((pki_dir / "ca.key").read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate((pki_dir / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _issue(ca_key, ca_cert, key, _name(cn, org), client=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_key(key, out_dir / f"{name}.key")
    (out_dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return out_dir / f"{name}.crt", out_dir / f"{name}.key"
