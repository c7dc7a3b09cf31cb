"""Both auth managers of the airflow_app role, under the pinned Airflow with the image's packages
(docker/requirements.txt): the role's rendered airflow.cfg, its migration Job and admin Job commands
run against a throw-away SQLite DB, and a login with the password the role keeps in Secrets Manager."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import socket
import textwrap
import time
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import HASHES

FAB = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
SIMPLE = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def _cfg_value(path, section, key):
    import configparser

    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    return cfg[section][key]


@pytest.fixture
def airflow_env(tmp_path):
    """Environment of a component pod, pointed at a throw-away home and SQLite DB."""

    def make(cfg_path, **extra):
        home = tmp_path / "home"
        (home / "logs").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "AIRFLOW_HOME": str(home), "AIRFLOW_CONFIG": str(cfg_path),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY": str(home / "logs" / "dag_processor"),
            "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32), "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            **extra,
        })
        return env

    return make


def _run(args, env, timeout=300):
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _python(code, env):
    rc, out = _run([sys.executable, "-c", textwrap.dedent(code)], env)
    assert rc == 0, out[-4000:]
    last = [line for line in out.strip().splitlines() if line.startswith(("{", "["))]
    assert last, out[-4000:]
    return json.loads(last[-1])


def _airflow(env, *args):
    """`airflow ...` as a container runs it (the venv's airflow on PATH, as in the image)."""
    env = dict(env, PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    return _run(list(args), env)


# ------------------------------------------------------------------ FAB (the default)
@pytest.fixture(scope="module")
def fab_rendered(render_role_template):
    cfg = render_role_template("airflow.cfg.j2")  # the role's defaults: FAB
    jobs = list(yaml.safe_load_all(render_role_template("jobs.yml.j2", **HASHES).read_text()))
    return cfg, {j["metadata"]["labels"]["spotflow.io/job"]: j for j in jobs if j}


def test_fab_is_the_default_and_loads(fab_rendered, airflow_env):
    cfg, jobs = fab_rendered
    assert _cfg_value(cfg, "core", "auth_manager") == FAB
    assert set(jobs) == {"migrate", "create-admin"}
    out = _python("""
        import json
        from airflow.api_fastapi.app import get_auth_manager_cls
        from airflow.providers.fab import __version__
        cls = get_auth_manager_cls()
        print(json.dumps([cls.__module__ + "." + cls.__name__, __version__]))
        """, airflow_env(cfg))
    assert out == [FAB, "3.10.2"]


def test_fab_admin_is_created_with_the_kept_password_and_kept_in_sync(fab_rendered, airflow_env):
    cfg, jobs = fab_rendered
    migrate = jobs["migrate"]["spec"]["template"]["spec"]["containers"][0]
    admin_job = jobs["create-admin"]["spec"]["template"]["spec"]["containers"][0]
    assert jobs["create-admin"]["metadata"]["name"] == "airflow-create-admin-abcdef0123"
    # the password reaches the Job only from the Secret
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in admin_job["env"] if "valueFrom" in e}
    assert secret_env["ADMIN_PASSWORD"] == {"name": "airflow-admin", "key": "password"}
    assert not any("value" in e and e["name"] == "ADMIN_PASSWORD" for e in admin_job["env"])

    password = secrets.token_urlsafe(24)
    env = airflow_env(cfg, ADMIN_USERNAME="admin", ADMIN_EMAIL="admin@example.com", ADMIN_PASSWORD=password)
    rc, out = _airflow(env, *migrate["args"])  # the migration Job: Airflow's and FAB's tables
    assert rc == 0, out[-4000:]

    login = """
        import json, os
        from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder
        with get_application_builder() as ab, ab.app.test_request_context("/auth/login", method="POST"):
            print(json.dumps({p: bool(ab.sm.auth_user_db("admin", p)) for p in os.environ["TRY"].split()}))
        """
    rc, out = _airflow(env, *admin_job["args"])
    assert rc == 0, out[-4000:]
    assert 'User "admin" created with role "Admin"' in out and password not in out
    assert _python(login, dict(env, TRY=f"{password} wrong")) == {password: True, "wrong": False}

    rc, out = _airflow(env, *admin_job["args"])  # the same Job again: nothing to create, same password
    assert rc == 0 and "admin already exists in the db" in out and password not in out, out[-4000:]

    # a new password in Secrets Manager: a new Job sets it (one that starts with "-" is not taken for an option)
    new_password = "-" + secrets.token_urlsafe(24)
    rc, out = _airflow(dict(env, ADMIN_PASSWORD=new_password), *admin_job["args"])
    assert rc == 0 and new_password not in out, out[-4000:]
    assert _python(login, dict(env, TRY=f"{password} {new_password}")) == {password: False, new_password: True}

    # The api-server with this config: FAB's login endpoint takes the admin's password, and nothing else.
    assert _api_server_logins(env, [("admin", new_password), ("admin", password)]) == [True, 401]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api_server_logins(env, attempts, timeout=120):
    """Start `airflow api-server`, wait for /api/v2/monitor/health, POST /auth/token per (user, password):
    True for a token, else the HTTP status."""
    port = _free_port()
    env = dict(env, PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    proc = subprocess.Popen(["airflow", "api-server", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert proc.poll() is None, proc.stderr.read()[-4000:]
            try:
                with urllib.request.urlopen(base + "/api/v2/monitor/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.monotonic() < deadline, "api-server not healthy in time"
            time.sleep(2)
        results = []
        for user, pw in attempts:
            req = urllib.request.Request(base + "/auth/token", method="POST", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"username": user, "password": pw}).encode())
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    results.append(bool(json.loads(r.read())["access_token"]))
            except urllib.error.HTTPError as e:
                results.append(e.code)
        return results
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ------------------------------------------------------------------ SimpleAuthManager (the option)
def test_simple_auth_manager_takes_the_kept_password(render_role_template, airflow_env, tmp_path):
    cfg = render_role_template("airflow.cfg.j2", airflow_app_auth_manager="simple")
    assert _cfg_value(cfg, "core", "auth_manager") == SIMPLE
    assert _cfg_value(cfg, "core", "simple_auth_manager_users") == "admin:admin"
    jobs = yaml.safe_load_all(render_role_template("jobs.yml.j2", airflow_app_auth_manager="simple", **HASHES).read_text())
    assert [j["metadata"]["name"] for j in jobs if j] == ["airflow-migrate-0123456789"]  # no admin Job
    password = secrets.token_urlsafe(24)
    rendered = yaml.safe_load_all(render_role_template(
        "secrets.yml.j2", airflow_app__secrets={"fernet_key": "f", "api_secret_key": "a", "jwt_secret": "j",
                                                "db_connection": "d", "db_connection_async": "d",
                                                "admin_password": password}).read_text())
    admin = next(s for s in rendered if s and s["metadata"]["name"] == "airflow-admin")
    passwords_file = tmp_path / "passwords.json"  # what the install-passwords init container copies
    passwords_file.write_bytes(base64.b64decode(admin["data"]["passwords.json"]))
    out = _python("""
        import json
        from fastapi import HTTPException
        from airflow.api_fastapi.app import create_auth_manager, get_auth_manager_cls
        from airflow.api_fastapi.auth.managers.simple.datamodels.login import LoginBody
        from airflow.api_fastapi.auth.managers.simple.services.login import SimpleAuthManagerLogin
        import os
        create_auth_manager().init()
        result = {"cls": get_auth_manager_cls().__name__}
        for name, pw in (("right", os.environ["PW"]), ("wrong", "wrong")):
            try:
                result[name] = bool(SimpleAuthManagerLogin.create_token(LoginBody(username="admin", password=pw)))
            except HTTPException as e:
                result[name] = e.status_code
        print(json.dumps(result))
        """, airflow_env(cfg, PW=password, AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=str(passwords_file)))
    assert out == {"cls": "SimpleAuthManager", "right": True, "wrong": 401}
