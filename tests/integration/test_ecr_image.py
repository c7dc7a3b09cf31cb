"""spotflow.eks.ecr_image_build and ecr_repository against the local cloud, with
a tiny ``FROM scratch`` image (seconds, no base image needed): a real Docker
daemon, the emulated ECR (moto) and the real registry behind it.

Each module runs through ``ansible`` (ad hoc, the local inventory), so argument
parsing, check mode and results are Ansible's. The role's full scenario with
the Airflow image is roles/ecr_image/molecule/default.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_module(localcloud):
    def _run(name, args, check=False):
        aws = dict(endpoint_url=localcloud.env["AWS_ENDPOINT_URL"], region=localcloud.cfg.region,
                   access_key=localcloud.cfg.access_key, secret_key=localcloud.cfg.secret_key)
        argv = [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", "spotflow.eks." + name,
                "-a", json.dumps(dict(aws, **args))]
        if check:
            argv.append("--check")
        env = dict(os.environ, **localcloud.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_CALLBACK_RESULT_FORMAT="json")
        proc = subprocess.run(argv, cwd=str(REPO), env=env, capture_output=True, text=True, timeout=600)
        head, sep, body = proc.stdout.partition(" => ")
        assert sep, "no module result:\n" + proc.stdout + proc.stderr
        result = json.loads(body)
        result["_status"] = head.split("|")[-1].strip()
        return result

    return _run


def docker_ok() -> bool:
    try:
        import docker

        docker.from_env(timeout=10).ping()
        return True
    except Exception:
        return False


needs_docker = pytest.mark.skipif(not docker_ok(), reason="no Docker daemon (python -m localcloud up starts one)")


def registry_tags(localcloud, repository):
    url = "http://{0}/v2/{1}/tags/list".format(localcloud.env["SPOTFLOW_REGISTRY"], repository)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return sorted(json.loads(r.read()).get("tags") or [])
    except urllib.error.HTTPError as e:
        assert e.code == 404
        return []


def registry_digest(localcloud, repository, tag):
    req = urllib.request.Request("http://{0}/v2/{1}/manifests/{2}".format(localcloud.env["SPOTFLOW_REGISTRY"], repository, tag),
                                 method="HEAD", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["Docker-Content-Digest"]


@pytest.fixture
def context(tmp_path):
    root = tmp_path / "ctx"
    (root / "data").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM scratch\nCOPY data/ /data/\n")
    (root / "data" / "a.txt").write_text("hello\n")
    (root / "NOTES.md").write_text("not sent\n")
    return root


@pytest.fixture
def repository(run_module):
    name = "sfw-it-{0}/tiny".format(uuid.uuid4().hex[:8])
    created = run_module("ecr_repository", dict(name=name, image_tag_mutability="IMMUTABLE", scan_on_push=True,
                                                tags={"spotflow:component": "test"}))
    assert created["_status"] == "CHANGED", created
    yield name
    run_module("ecr_image_build", dict(repository=name, state="absent"))
    run_module("ecr_repository", dict(name=name, state="absent", force_absent=True))


@needs_docker
def test_build_push_skip_rebuild_and_teardown(localcloud, run_module, repository, context):
    args = dict(repository=repository, context=str(context), include=["Dockerfile", "data"], tag_prefix="t-")

    predicted = run_module("ecr_image_build", args, check=True)
    assert predicted["_status"] == "CHANGED" and predicted["built"] and predicted["pushed"]
    assert predicted["inputs"] == ["Dockerfile", "data/a.txt"]
    assert registry_tags(localcloud, repository) == [], "check mode pushed something"

    first = run_module("ecr_image_build", args)
    assert first["_status"] == "CHANGED" and first["built"] and first["pushed"], first
    assert first["tag"] == predicted["tag"] == "t-" + first["content_hash"][:16]
    assert first["image"] == first["repository_uri"] + ":" + first["tag"]
    # ECR, the registry and the module agree on the digest
    assert registry_tags(localcloud, repository) == [first["tag"]]
    assert first["digest"] == registry_digest(localcloud, repository, first["tag"])
    ecr = localcloud.boto3("ecr")
    described = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": first["tag"]}])["imageDetails"]
    assert described[0]["imageDigest"] == first["digest"]

    again = run_module("ecr_image_build", args)
    assert again["_status"] == "SUCCESS" and not again["built"] and not again["pushed"]
    assert again["digest"] == first["digest"]

    # noise: mtimes and files outside the include list change nothing
    os.utime(context / "data" / "a.txt", (1, 1))
    (context / "NOTES.md").write_text("changed\n")
    assert run_module("ecr_image_build", args)["_status"] == "SUCCESS"

    # content: a new tag, a build, a second image next to the first (IMMUTABLE: the old tag stays)
    (context / "data" / "a.txt").write_text("hello again\n")
    second = run_module("ecr_image_build", args)
    assert second["_status"] == "CHANGED" and second["built"] and second["tag"] != first["tag"]
    assert registry_tags(localcloud, repository) == sorted([first["tag"], second["tag"]])

    pruned = run_module("ecr_image_build", dict(repository=repository, state="absent"))
    assert pruned["_status"] == "CHANGED" and len(pruned["removed_images"]) == 2
    assert run_module("ecr_image_build", dict(repository=repository, state="absent"))["_status"] == "SUCCESS"

    deleted = run_module("ecr_repository", dict(name=repository, state="absent", force_absent=True))
    assert deleted["_status"] == "CHANGED" and deleted["image_count"] == 2
    assert registry_tags(localcloud, repository) == []
    assert run_module("ecr_repository", dict(name=repository, state="absent"))["_status"] == "SUCCESS"


@needs_docker
def test_unavailable_base_image_fails_clearly(run_module, repository, context):
    (context / "Dockerfile").write_text("ARG BASE\nFROM ${BASE}\nCOPY data/ /data/\n")
    base = "127.0.0.1:9/spotflow/no-such-base:1"  # port 9 (discard): nothing answers
    args = dict(repository=repository, context=str(context), base_image=base, build_args={"BASE": base})
    for check in (True, False):
        result = run_module("ecr_image_build", args, check=check)
        assert result["_status"] == "FAILED!", result
        assert "The base image {0} is not in the Docker daemon".format(base) in result["msg"]
        assert "build-airflow-base.sh" in result["msg"]


@needs_docker
def test_missing_repository(run_module, context):
    args = dict(repository="sfw-it-{0}/none".format(uuid.uuid4().hex[:8]), context=str(context))
    predicted = run_module("ecr_image_build", args, check=True)
    assert predicted["_status"] == "CHANGED" and predicted["repository_uri"] == "" and predicted["tag"]
    failed = run_module("ecr_image_build", args)
    assert failed["_status"] == "FAILED!" and "does not exist" in failed["msg"]


# ---------------------------------------------------------------- the role's validation

VALIDATION_PLAY = """---
- name: ecr_image validation
  hosts: localhost
  gather_facts: false
  roles:
    - role: ecr_image
"""


@pytest.mark.parametrize(
    "extra, message",
    [
        (dict(ecr_image_keep_images=0), "ecr_image_keep_images must be between 1 and 10000, got 0"),
        (dict(ecr_image_repository_name="Spotflow/Bad Name"), "ecr_image_repository_name must be 2-256 characters"),
        (dict(ecr_image_repository_name="spotflow//x"), "ecr_image_repository_name must be 2-256 characters"),
        (dict(ecr_image_base_image=" "), "ecr_image_base_image must be a non-empty image reference"),
        (dict(ecr_image_dockerfile="docker/Nope"), "docker/Nope does not exist or is not a file"),
        (dict(ecr_image_kms_key="alias/x"), "ecr_image_kms_key is only allowed with ecr_image_encryption_type KMS"),
        (dict(ecr_image_hash_length=8), "ecr_image_hash_length must be"),
        (dict(ecr_image_context_include=["../etc"]), "ecr_image_context_include must be a non-empty list of paths inside"),
        (dict(spotflow_region=None), "spotflow_region"),
        (dict(ecr_image_state="gone"), "ecr_image_state"),
    ],
)
def test_role_validation_stops_before_any_call(tmp_path, extra, message):
    """Wrong inputs fail in validation. The AWS endpoint and the Docker host lead
    nowhere, so a run that got past validation would fail differently."""
    play = tmp_path / "play.yml"
    play.write_text(VALIDATION_PLAY)
    variables = dict(spotflow_cluster_name="val-ecr", spotflow_region="us-east-1", spotflow_aws_endpoint_url="http://127.0.0.1:9",
                     spotflow_aws_access_key="x", spotflow_aws_secret_key="y", ecr_image_docker_host="tcp://127.0.0.1:9",
                     ansible_connection="local", ansible_python_interpreter=sys.executable)
    variables.update(extra)
    variables = dict((k, v) for k, v in variables.items() if v is not None)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(play),
                           "-e", json.dumps(variables)], cwd=str(REPO), env=env, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out
    assert message in " ".join(out.split()), out
    assert "Ensure the ECR repository" not in out, "validation let the play reach the first API call:\n" + out
