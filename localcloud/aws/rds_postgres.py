"""RDS = PostgreSQL: every ``postgres`` DB instance of the emulated RDS API is a real PostgreSQL server.

CreateDBInstance (and RestoreDBInstanceFromDBSnapshot) starts a PostgreSQL of the local cloud for the
instance: its master user and password, its initial database (DBName), TLS with a server certificate
signed by the local cloud's RDS CA (``STATE/rds/ca.crt``, what AWS's ``global-bundle.pem`` is to RDS),
and the parameter group applied: ``rds.force_ssl=1`` refuses connections without TLS (pg_hba
``hostnossl ... reject``), as RDS does; any other parameter PostgreSQL knows is set in the server's
configuration. The instance reads ``creating`` until the server accepts connections with the master
user's password (on top of any injected latency: aws/latency.py), ``available`` then.

- ModifyDBInstance with MasterUserPassword: ``ALTER ROLE`` at once (as RDS: whatever ApplyImmediately
  says); ModifyDBParameterGroup or a new DBParameterGroupName: the configuration is written again and
  reloaded.
- Stop/Start/RebootDBInstance stop and start the server (data kept).
- CreateDBSnapshot and DeleteDBInstance's final snapshot: ``pg_dumpall`` of the running server into
  ``STATE/rds/snapshots/``, which RestoreDBInstanceFromDBSnapshot loads into the new instance's server;
  DeleteDBSnapshot removes it.
- DeleteDBInstance stops the server (by pid) and removes its data.

The API answers as AWS does: Endpoint.Address is the instance's DNS name, Endpoint.Port the port asked
for (5432 by default), EngineVersion the version asked for. The server itself listens on 127.0.0.1 at
a port of the local cloud (port base + 800 + slot); ``STATE/rds/endpoints.json`` maps each endpoint to
it (``host_endpoint()`` reads it). The PostgreSQL that answers is the newest major installed under
/usr/lib/postgresql (Debian bookworm: 15), whatever major the API was asked for. As root, the servers
run as the ``postgres`` system user (Debian's package makes it; PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import grp
import json
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import pki, procs
from ..config import Config

LOG = logging.getLogger("localcloud.aws.rds")

FIRST_PORT_OFFSET = 800  # the servers listen on port_base + 800 + slot (clusters use +500..+691)
MAX_INSTANCES = 100
SUPERUSER = "rdsadmin"  # the local cloud's own superuser (RDS's is called that too); Unix socket only
# settings the local cloud decides; a parameter group cannot change them
RESERVED = {"listen_addresses", "port", "unix_socket_directories", "unix_socket_permissions", "unix_socket_group",
            "hba_file", "ident_file", "config_file", "data_directory", "external_pid_file", "ssl", "ssl_cert_file",
            "ssl_key_file", "ssl_ca_file", "ssl_crl_file", "ssl_crl_dir", "logging_collector", "log_destination",
            "log_directory", "shared_preload_libraries", "archive_command", "archive_library", "restore_command",
            "ssl_passphrase_command", "dynamic_library_path", "local_preload_libraries", "session_preload_libraries"}


def rds_dir(cfg: Config) -> Path:
    return cfg.state_dir / "rds"


def ca_bundle(cfg: Config) -> Path:
    """The CA that signs every DB instance's server certificate (sslrootcert)."""
    return rds_dir(cfg) / "ca.crt"


def endpoints_file(cfg: Config) -> Path:
    return rds_dir(cfg) / "endpoints.json"


def endpoints(cfg: Config) -> dict[str, dict]:
    """"<region>/<instance>" -> its endpoint, as ``host_endpoint`` describes it, for every server."""
    return json.loads(endpoints_file(cfg).read_text()) if endpoints_file(cfg).exists() else {}


def host_endpoint(cfg: Config, identifier: str, region: str | None = None) -> dict:
    """Where the server of DB instance ``identifier`` listens on this machine:
    {"host", "port", "address", "api_port", "pid", "ca", "slot", "vpc", ...} (KeyError if the local cloud
    runs none)."""
    for entry in endpoints(cfg).values():
        if entry["instance"] == identifier.lower() and entry["region"] == (region or cfg.region):
            return entry
    raise KeyError(f"no PostgreSQL server for DB instance {identifier}")


def postgres_bin() -> Path | None:
    """The newest PostgreSQL installed from Debian's packages (bookworm: 15)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def _run_as() -> tuple[int, int] | None:
    """uid/gid the servers run as: Debian's ``postgres`` user when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("postgres")
    return pw.pw_uid, pw.pw_gid


_TRAVERSE = {"needed": False}  # the state dir is below a directory the postgres user cannot enter


def _traversable(path: Path, uid: int, gid: int) -> bool:
    """Can ``uid`` (group ``gid`` and its other groups) enter every directory down to ``path``?"""
    groups = {gid} | {g.gr_gid for g in grp.getgrall() if pwd.getpwuid(uid).pw_name in g.gr_mem}
    for d in [*reversed(path.parents), path]:
        try:
            st = d.stat()
        except FileNotFoundError:
            break
        if st.st_uid == uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return False
    return True


def _as_user(argv: list[str]) -> list[str]:
    """``argv`` as the postgres user. A state dir under a directory only root may enter (pytest's
    /tmp/pytest-of-root, /root) is reached with CAP_DAC_READ_SEARCH, the one capability kept."""
    ids = _run_as()
    if ids is None:
        return argv
    caps = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"] if _TRAVERSE["needed"] else []
    return ["setpriv", f"--reuid={ids[0]}", f"--regid={ids[1]}", "--init-groups", *caps, "--", *argv]


def _chown(path: Path) -> None:
    ids = _run_as()
    if ids is not None:
        os.chown(path, *ids)


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC"}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _conf_value(value) -> str:
    return _literal(str(value))


def _major(version: str | None) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return 0


@dataclass
class Server:
    """One DB instance's PostgreSQL."""

    cfg: Config
    bin: Path
    instance: object  # moto's DBInstance (kept: the registry is keyed by its id())
    slot: int
    state: str = "creating"  # creating | available | failed | incompatible-parameters | stopping | stopped | starting | rebooting
    error: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    settled: threading.Event = field(default_factory=threading.Event)  # create() has finished, either way
    dir: Path = field(init=False)

    def __post_init__(self):
        i = self.instance
        self.dir = rds_dir(self.cfg) / "instances" / f"{i.region}.{i.db_instance_identifier}.{self.slot}"

    # --- where ------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.cfg.port_base + FIRST_PORT_OFFSET + self.slot

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:  # short: a Unix socket's path has at most 107 bytes
        return rds_dir(self.cfg) / "sockets" / str(self.slot)

    @property
    def pid_dir(self) -> Path:
        return self.dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def pid(self) -> int | None:
        return procs.running_pid(self.pid_dir, "postgres")

    # --- set-up -------------------------------------------------------------------
    def _issue_certificate(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        ca_dir = rds_dir(self.cfg)
        ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        address = self.instance.address
        cert = pki._issue(ca_key, ca_cert, key, pki._name(address), server=True,
                          server_names=[address, "localhost", "127.0.0.1"])
        tls = self.dir / "tls"
        tls.mkdir(parents=True, exist_ok=True)
        pki._write_key(key, tls / "server.key")
        (tls / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        for p in (tls, tls / "server.key", tls / "server.crt"):
            _chown(p)

    def parameters(self) -> dict[str, str]:
        """The instance's parameter group, as name -> value."""
        groups = self.instance.db_parameter_groups()
        out = {}
        for group in groups:
            for name, p in group.parameters.items():
                if p.get("ParameterValue") is not None:
                    out[name] = str(p["ParameterValue"])
        return out

    def force_ssl(self, params: dict[str, str]) -> bool:
        """rds.force_ssl of the parameter group; unset: RDS's default, on from PostgreSQL 15."""
        if "rds.force_ssl" in params:
            return params["rds.force_ssl"].strip() in ("1", "true", "on")
        return _major(self.instance.engine_version) >= 15

    def write_config(self) -> None:
        """postgresql.conf, pg_hba.conf and the parameter group's settings (parameters.conf)."""
        params = self.parameters()
        d = self.dir
        (d / "postgresql.conf").write_text("".join(f"{k} = {_conf_value(v)}\n" for k, v in {
            "listen_addresses": self.cfg.host, "port": self.port,
            "unix_socket_directories": self.socket_dir, "unix_socket_permissions": "0700",
            "hba_file": d / "pg_hba.conf", "ident_file": self.data / "pg_ident.conf",
            "ssl": "on", "ssl_cert_file": d / "tls" / "server.crt", "ssl_key_file": d / "tls" / "server.key",
            "ssl_min_protocol_version": "TLSv1.2", "password_encryption": "scram-sha-256",
            "shared_buffers": "32MB", "max_connections": "100",
            # the local cloud's data is not precious: no fsync
            "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
            "log_destination": "stderr", "logging_collector": "off", "log_timezone": "UTC", "timezone": "UTC",
            "lc_messages": "C.UTF-8",
        }.items()) + f"include_if_exists = {_conf_value(d / 'parameters.conf')}\n")
        known = _known_settings(self.bin)
        (d / "parameters.conf").write_text("".join(
            f"{k} = {_conf_value(v)}\n" for k, v in sorted(params.items())
            if k in known and k not in RESERVED))
        lines = [f"local all {SUPERUSER} trust"]
        if self.force_ssl(params):
            lines.append("hostnossl all all all reject")  # rds.force_ssl=1
        lines += ["hostssl all all 127.0.0.1/32 scram-sha-256", "host all all 127.0.0.1/32 scram-sha-256"]
        (d / "pg_hba.conf").write_text("\n".join(lines) + "\n")
        for name in ("postgresql.conf", "parameters.conf", "pg_hba.conf"):
            _chown(d / name)

    def _initdb(self) -> None:
        template = rds_dir(self.cfg) / "template"
        with _TEMPLATE_LOCK:  # one initdb per local cloud; every instance starts from a copy
            if not (template / "PG_VERSION").exists():
                shutil.rmtree(template, ignore_errors=True)
                template.mkdir(parents=True)
                _chown(template)
                template.chmod(0o700)
                out = subprocess.run(_as_user([str(self.bin / "initdb"), "-D", str(template), "-U", SUPERUSER,
                                               "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync",
                                               "--no-instructions"]),
                                     env=_env(), capture_output=True, text=True)
                if out.returncode != 0:
                    shutil.rmtree(template, ignore_errors=True)
                    raise RuntimeError(f"initdb failed: {out.stderr.strip()[-2000:]}")
        subprocess.run(["cp", "-a", str(template), str(self.data)], check=True, capture_output=True)

    def prepare(self) -> None:
        self.dir.mkdir(parents=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        self.socket_dir.mkdir(parents=True)
        _chown(self.socket_dir)
        self.socket_dir.chmod(0o700)
        self._issue_certificate()
        self._initdb()
        self.write_config()

    def spawn(self) -> None:
        procs.spawn(self.pid_dir, self.log_dir, "postgres", _as_user(
            [str(self.bin / "postgres"), "-D", str(self.data), "-c", f"config_file={self.dir / 'postgresql.conf'}"]),
            env=_env())

    def sql(self, script: str, check: bool = True, database: str = "postgres") -> subprocess.CompletedProcess:
        """Run ``script`` as the local cloud's superuser over the server's Unix socket."""
        argv = [str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-h", str(self.socket_dir), "-p", str(self.port),
                "-U", SUPERUSER, "-d", database]
        if check:
            argv += ["-v", "ON_ERROR_STOP=1"]
        out = subprocess.run(argv, input=script, env=_env(), capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise RuntimeError(f"SQL failed: {out.stderr.strip()[-2000:]}")
        return out

    def _wait_accepting(self, timeout: float = 60) -> None:
        def ready() -> bool:
            return self.sql("select 1", check=False).returncode == 0

        procs.wait_until(ready, timeout, f"PostgreSQL of {self.instance.db_instance_identifier}",
                         alive=lambda: self.pid() is not None, log=self.log_dir / "postgres.log")

    def _master(self, exists: bool) -> str:
        i = self.instance
        user, password = i.master_username, i.__dict__.get("_master_user_password")  # moto hides it
        auth = f" PASSWORD {_literal(password)}" if password else ""
        if exists:
            return f"ALTER ROLE {_ident(user)} WITH LOGIN{auth};\n"
        return (f"CREATE ROLE rds_superuser NOLOGIN;\n"
                f"CREATE ROLE {_ident(user)} WITH LOGIN CREATEDB CREATEROLE{auth};\n"
                f"GRANT rds_superuser TO {_ident(user)};\n")

    def create(self, restore_from: Path | None) -> None:
        """Thread body: prepare, start, master user and database (or the snapshot's dump); then available."""
        try:
            self._create(restore_from)
        finally:
            self.settled.set()

    def _create(self, restore_from: Path | None) -> None:
        try:
            self.prepare()
            self.spawn()
            self._wait_accepting()
            i = self.instance
            if restore_from is not None and restore_from.exists():
                self.sql(restore_from.read_text(), check=False)  # the dump's CREATE ROLE rdsadmin fails: fine
                exists = self.sql(f"select 1 from pg_roles where rolname = {_literal(i.master_username)}").stdout.strip()
                self.sql(self._master(exists == "1"))
            else:
                self.sql(self._master(False))
                if i.db_name:
                    self.sql(f"CREATE DATABASE {_ident(i.db_name)} OWNER {_ident(i.master_username)};\n")
        except Exception as e:
            LOG.error("DB instance %s: PostgreSQL failed: %s", self.instance.db_instance_identifier, e)
            params_failed = self.pid() is None and (self.log_dir / "postgres.log").exists() and \
                "configuration file" in (self.log_dir / "postgres.log").read_text(errors="replace")
            with self.lock:
                self.error = str(e)
                self.state = "incompatible-parameters" if params_failed else "failed"
            self.stop()
        else:
            with self.lock:
                if self.state == "creating":
                    self.state = "available"
            LOG.info("DB instance %s: PostgreSQL ready on %s:%s", self.instance.db_instance_identifier,
                     self.cfg.host, self.port)

    def start_again(self, state: str) -> None:
        """Start a stopped server (StartDBInstance, RebootDBInstance)."""
        with self.lock:
            self.state = state
        try:
            self.write_config()
            self.spawn()
            self._wait_accepting()
        except Exception as e:
            LOG.error("DB instance %s: PostgreSQL did not start: %s", self.instance.db_instance_identifier, e)
            with self.lock:
                self.state, self.error = "failed", str(e)
            return
        with self.lock:
            if self.state == state:
                self.state = "available"

    def reload(self) -> None:
        """The parameter group changed: write the configuration again, SIGHUP (dynamic settings apply)."""
        if not self.data.exists():
            return
        self.write_config()
        pid = self.pid()
        if pid:
            os.kill(pid, signal.SIGHUP)

    def set_password(self, password: str) -> None:
        if self.pid() is not None:
            self.sql(f"ALTER ROLE {_ident(self.instance.master_username)} WITH PASSWORD {_literal(password)};\n")

    def dump(self, path: Path) -> bool:
        """pg_dumpall of the running server (roles with their passwords, every database) into ``path``."""
        if self.pid() is None or self.state not in ("available", "stopping", "rebooting"):
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        out = subprocess.run([str(self.bin / "pg_dumpall"), "-h", str(self.socket_dir), "-p", str(self.port),
                              "-U", SUPERUSER, "-f", str(path)], env=_env(), capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            LOG.error("DB instance %s: pg_dumpall failed: %s", self.instance.db_instance_identifier, out.stderr[-2000:])
            path.unlink(missing_ok=True)
            return False
        return True

    def stop(self) -> bool:
        return stop_postgres(self.pid_dir)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)


def stop_postgres(pid_dir: Path, timeout: float = 15) -> bool:
    """Stop the postmaster recorded in ``pid_dir`` by its pid: fast shutdown (SIGINT: clients are
    disconnected), then immediate (SIGQUIT), then SIGKILL. True if it was running."""
    pid = procs.running_pid(pid_dir, "postgres")
    if pid is None:
        (pid_dir / "postgres.json").unlink(missing_ok=True)
        return False
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and procs.running_pid(pid_dir, "postgres") == pid:
            procs._reap(pid)
            time.sleep(0.05)
        if procs.running_pid(pid_dir, "postgres") != pid:
            break
    procs._reap(pid)
    (pid_dir / "postgres.json").unlink(missing_ok=True)
    return True


_TEMPLATE_LOCK = threading.Lock()
_KNOWN: dict[str, set[str]] = {}


def _known_settings(bin_dir: Path) -> set[str]:
    """Every setting this PostgreSQL has (``postgres --describe-config``)."""
    key = str(bin_dir)
    if key not in _KNOWN:
        out = subprocess.run(_as_user([str(bin_dir / "postgres"), "--describe-config"]), env=_env(),
                             capture_output=True, text=True)
        _KNOWN[key] = {line.split("\t", 1)[0] for line in out.stdout.splitlines() if line.strip()}
    return _KNOWN[key]


def _ensure_ca(cfg: Config) -> None:
    """The local cloud's RDS CA (``STATE/rds/ca.crt``): clients verify the servers with it."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    d = rds_dir(cfg)
    if (d / "ca.crt").exists():
        return
    d.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = pki._name("spotflow local cloud RDS CA")
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(key, hashes.SHA256()))
    pki._write_key(key, d / "ca.key")
    (d / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class RdsServers:
    """The PostgreSQL servers of the DB instances the RDS API knows (in the AWS emulator's process)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._servers: dict[int, Server] = {}  # id(DBInstance) -> its server
        self._endpoints_lock = threading.Lock()
        self.bin = postgres_bin()

    def reset(self) -> None:
        """A fresh local cloud: moto remembers no instance, so nothing of a previous run is kept."""
        sweep(self.cfg)
        _ensure_ca(self.cfg)
        ids = _run_as()
        _TRAVERSE["needed"] = ids is not None and not _traversable(rds_dir(self.cfg), *ids)
        self._write_endpoints()

    def get(self, instance) -> Server | None:
        return self._servers.get(id(instance))

    def create(self, instance, restore_from: Path | None = None) -> Server | None:
        if instance.engine != "postgres" or getattr(instance, "db_cluster_identifier", None):
            return None
        if self.bin is None:
            raise RuntimeError("no PostgreSQL under /usr/lib/postgresql (scripts/bootstrap.sh installs postgresql-15)")
        with self._lock:
            used = {s.slot for s in self._servers.values()}
            free = [s for s in range(MAX_INSTANCES) if s not in used
                    and not procs.port_open(self.cfg.host, self.cfg.port_base + FIRST_PORT_OFFSET + s)]
            if not free:
                raise RuntimeError(f"the local cloud runs at most {MAX_INSTANCES} DB instances at once")
            server = Server(self.cfg, self.bin, instance, free[0])
            self._servers[id(instance)] = server
        self._write_endpoints()

        def run():
            server.create(restore_from)
            self._write_endpoints()

        threading.Thread(target=run, name=f"rds-{instance.db_instance_identifier}", daemon=True).start()
        return server

    def delete(self, instance) -> None:
        with self._lock:
            server = self._servers.pop(id(instance), None)
        if server is not None:
            server.settled.wait(timeout=120)  # never race a start still under way
            with server.lock:
                server.state = "deleting"
            server.remove()
            self._write_endpoints()

    def all(self) -> list[Server]:
        return list(self._servers.values())

    def stop_all(self) -> None:
        for server in self.all():
            server.settled.wait(timeout=60)
            server.stop()
        with self._lock:
            self._servers.clear()
        sweep(self.cfg)

    def _write_endpoints(self) -> None:
        entries = {}
        for s in self.all():
            i = s.instance
            entries[f"{i.region}/{i.db_instance_identifier}"] = {
                "instance": i.db_instance_identifier, "region": i.region, "address": i.address, "api_port": i.port,
                "host": self.cfg.host, "port": s.port, "state": s.state, "pid": s.pid(), "ca": str(ca_bundle(self.cfg)),
                "data_dir": str(s.data), "slot": s.slot,
                "vpc": getattr(getattr(i, "db_subnet_group", None), "vpc_id", None)}
        path = endpoints_file(self.cfg)
        with self._endpoints_lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(entries, indent=2, sort_keys=True))
            tmp.replace(path)


def sweep(cfg: Config) -> list[str]:
    """Stop, by their pid files, the servers a dead emulator left, and remove every instance's data and
    the snapshots' dumps (the RDS API forgets them with the process)."""
    stopped = []
    root = rds_dir(cfg) / "instances"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if stop_postgres(d / "pids"):
            stopped.append(f"rds/{d.name}")
    for name in ("instances", "snapshots", "template", "sockets"):
        shutil.rmtree(rds_dir(cfg) / name, ignore_errors=True)
    endpoints_file(cfg).unlink(missing_ok=True)
    return stopped


# --- the RDS API's hooks ---------------------------------------------------------------------------
_current = threading.local()


def snapshot_file(cfg: Config, account: str, region: str, snapshot_id: str) -> Path:
    return rds_dir(cfg) / "snapshots" / account / region / f"{snapshot_id.lower()}.sql"


def patch_rds_postgres(cfg: Config) -> RdsServers:
    """Back moto's DB instances with real servers; returns the registry (server.py stops it at exit)."""
    from moto.rds.models import DBInstance, RDSBackend

    servers = RdsServers(cfg)
    servers.reset()

    # status follows the server (wrapping whatever property is there: latency's delay stays on top)
    prev = DBInstance.__dict__.get("status")
    store = "_spotflow_rds_status"

    def status_get(self):
        stored = prev.fget(self) if isinstance(prev, property) else self.__dict__.get(store)
        server = servers.get(self)
        if server is None:
            return stored
        state = server.state
        if stored == "available" and state != "available":
            return state
        if stored == "stopped" and state == "stopping":
            return state
        return stored

    def status_set(self, value):
        if isinstance(prev, property):
            prev.fset(self, value)
        else:
            self.__dict__[store] = value

    DBInstance.status = property(status_get, status_set)

    orig_create = RDSBackend.create_db_instance

    def create_db_instance(self, db_kwargs):
        instance = orig_create(self, db_kwargs)
        restore_from = getattr(_current, "restore_from", None)
        try:
            servers.create(instance, restore_from)
        except Exception as e:
            LOG.error("DB instance %s: %s", instance.db_instance_identifier, e)
            self.databases.pop(instance.db_instance_identifier, None)
            from moto.rds.exceptions import RDSClientError

            raise RDSClientError("InvalidParameterValue", f"the local cloud cannot run this DB instance: {e}")
        return instance

    RDSBackend.create_db_instance = create_db_instance

    orig_restore = RDSBackend.restore_db_instance_from_db_snapshot

    def restore_db_instance_from_db_snapshot(self, from_snapshot_id, overrides):
        snapshot_id = from_snapshot_id
        if snapshot_id.startswith("arn:aws:rds:"):
            snapshot_id = self.extract_snapshot_name_from_arn(snapshot_id)
        _current.restore_from = snapshot_file(cfg, self.account_id, self.region_name, snapshot_id)
        try:
            return orig_restore(self, from_snapshot_id, overrides)
        finally:
            _current.restore_from = None

    RDSBackend.restore_db_instance_from_db_snapshot = restore_db_instance_from_db_snapshot

    orig_snapshot = RDSBackend.create_db_snapshot

    def create_db_snapshot(self, db_instance_identifier, db_snapshot_identifier, *args, **kwargs):
        snapshot = orig_snapshot(self, db_instance_identifier, db_snapshot_identifier, *args, **kwargs)
        server = servers.get(self.databases.get(db_instance_identifier))
        if server is not None and snapshot.snapshot_type != "automated":
            server.dump(snapshot_file(cfg, self.account_id, self.region_name, snapshot.db_snapshot_identifier))
        return snapshot

    RDSBackend.create_db_snapshot = create_db_snapshot

    orig_delete_snapshot = RDSBackend.delete_db_snapshot

    def delete_db_snapshot(self, db_snapshot_identifier):
        snapshot = orig_delete_snapshot(self, db_snapshot_identifier)
        snapshot_file(cfg, self.account_id, self.region_name, db_snapshot_identifier).unlink(missing_ok=True)
        return snapshot

    RDSBackend.delete_db_snapshot = delete_db_snapshot

    orig_delete = RDSBackend.delete_db_instance

    def delete_db_instance(self, db_instance_identifier, *args, **kwargs):
        instance = orig_delete(self, db_instance_identifier, *args, **kwargs)  # the final snapshot is dumped here
        servers.delete(instance)
        return instance

    RDSBackend.delete_db_instance = delete_db_instance

    orig_modify = RDSBackend.modify_db_instance

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        instance = orig_modify(self, db_instance_identifier, db_kwargs)
        server = servers.get(instance)
        if server is not None:
            if db_kwargs.get("master_user_password"):
                server.set_password(db_kwargs["master_user_password"])
            if db_kwargs.get("db_parameter_group_name"):
                server.reload()
            servers._write_endpoints()
        return instance

    RDSBackend.modify_db_instance = modify_db_instance

    orig_modify_group = RDSBackend.modify_db_parameter_group

    def modify_db_parameter_group(self, db_parameter_group_name, db_parameter_group_parameters):
        group = orig_modify_group(self, db_parameter_group_name, db_parameter_group_parameters)
        for server in servers.all():
            if (server.instance.db_parameter_group_name or "").lower() == group.name and server.state == "available":
                server.reload()
        return group

    RDSBackend.modify_db_parameter_group = modify_db_parameter_group

    orig_stop, orig_start, orig_reboot = RDSBackend.stop_db_instance, RDSBackend.start_db_instance, RDSBackend.reboot_db_instance

    def stop_db_instance(self, db_instance_identifier, db_snapshot_identifier=None):
        instance = orig_stop(self, db_instance_identifier, db_snapshot_identifier)
        server = servers.get(instance)
        if server is not None:
            with server.lock:
                server.state = "stopping"

            def run():
                server.stop()
                with server.lock:
                    server.state = "stopped"
                servers._write_endpoints()

            threading.Thread(target=run, daemon=True).start()
        return instance

    def start_db_instance(self, db_instance_identifier):
        instance = orig_start(self, db_instance_identifier)
        server = servers.get(instance)
        if server is not None:
            def run():
                server.start_again("starting")
                servers._write_endpoints()

            threading.Thread(target=run, daemon=True).start()
        return instance

    def reboot_db_instance(self, db_instance_identifier):
        instance = orig_reboot(self, db_instance_identifier)
        server = servers.get(instance)
        if server is not None and server.state == "available":
            with server.lock:
                server.state = "rebooting"

            def run():
                server.stop()
                server.start_again("rebooting")
                servers._write_endpoints()

            threading.Thread(target=run, daemon=True).start()
        return instance

    RDSBackend.stop_db_instance = stop_db_instance
    RDSBackend.start_db_instance = start_db_instance
    RDSBackend.reboot_db_instance = reboot_db_instance
    return servers
