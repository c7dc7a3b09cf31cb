"""Unit tests of spotflow.eks.ecr_image_build: the content hash (what it covers
and what it ignores), the tag, the tar context, ECR auth, and the module's
decisions (skip / push only / build and push / fail) against in-memory ECR and
Docker doubles, in and out of check mode."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import pathlib
import sys
import tarfile

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

import botocore.waiter  # noqa: E402
import docker.errors  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.spotflow.eks.plugins.modules import ecr_image_build as mod  # noqa: E402

REPO = "spotflow/dev/airflow"
HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
URI = HOST + "/" + REPO
PASSWORD = "ecr-secret-password-123"


# ---------------------------------------------------------------- a build context


def write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


@pytest.fixture
def ctx(tmp_path):
    root = tmp_path / "repo"
    write(root / "docker" / "Dockerfile", "ARG B\nFROM ${B}\nCOPY dags/ /opt/airflow/dags/\n")
    write(root / "docker" / "requirements.txt", "")
    write(root / "docker" / "README.md", "docs\n")
    write(root / "docker" / "config" / "airflow_local_settings.py", "def task_policy(task):\n    pass\n")
    write(root / "docker" / "entry.sh", "#!/bin/sh\n", 0o755)
    write(root / "dags" / "a.py", "A = 1\n")
    write(root / "dags" / "sub" / "b.py", "B = 2\n")
    write(root / "dags" / "__pycache__" / "a.cpython-311.pyc", "bytecode")
    write(root / ".venv" / "huge", "not part of the context")
    return root


INCLUDE = ["dags", "docker"]
EXCLUDE = ["docker/README.md", "__pycache__", "*.pyc"]


def digest_of(root, include=INCLUDE, exclude=EXCLUDE, dockerfile="docker/Dockerfile", base="apache/airflow:3.3.2",
              build_args=None, labels=None, platform="linux/amd64"):
    entries = mod.collect_inputs(str(root), include, exclude, dockerfile)
    return mod.content_hash(entries, dockerfile, base, build_args or {"B": base}, labels or {}, platform)


# ---------------------------------------------------------------- inputs


def test_collect_inputs_sorted_relative_and_filtered(ctx):
    entries = mod.collect_inputs(str(ctx), INCLUDE, EXCLUDE, "docker/Dockerfile")
    assert [(e["path"], e["kind"]) for e in entries] == [
        ("dags", "D"),
        ("dags/a.py", "F"),
        ("dags/sub", "D"),
        ("dags/sub/b.py", "F"),
        ("docker", "D"),
        ("docker/Dockerfile", "F"),
        ("docker/config", "D"),
        ("docker/config/airflow_local_settings.py", "F"),
        ("docker/entry.sh", "F"),
        ("docker/requirements.txt", "F"),
    ]
    by_path = {e["path"]: e for e in entries}
    assert by_path["docker/entry.sh"]["exec"] is True
    assert by_path["dags/a.py"]["exec"] is False
    assert by_path["dags/a.py"]["sha256"] == hashlib.sha256(b"A = 1\n").hexdigest()


def test_hash_matches_an_independent_computation(ctx):
    """The scheme, spelled out: a change to it changes every tag, so it is pinned here."""
    files = []
    for rel in ["dags", "dags/a.py", "dags/sub", "dags/sub/b.py", "docker", "docker/Dockerfile", "docker/config",
                "docker/config/airflow_local_settings.py", "docker/entry.sh", "docker/requirements.txt"]:
        p = ctx / rel
        if p.is_dir():
            files.append(["D", rel])
        else:
            files.append(["F", rel, "x" if os.access(p, os.X_OK) else "-", hashlib.sha256(p.read_bytes()).hexdigest()])
    document = {
        "scheme": "spotflow.eks.ecr_image_build/v2",
        "dockerfile": "docker/Dockerfile",
        "base_image": "apache/airflow:3.3.2",
        "platform": "linux/amd64",
        "build_args": {"B": "apache/airflow:3.3.2"},
        "labels": {},
        "files": files,
    }
    expected = hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert digest_of(ctx) == expected


def test_hash_ignores_location_mtime_excluded_files_and_non_exec_mode_bits(ctx, tmp_path):
    before = digest_of(ctx)
    moved = tmp_path / "elsewhere" / "checkout"
    moved.parent.mkdir()
    ctx.rename(moved)
    os.utime(moved / "dags" / "a.py", (1, 1))
    (moved / "dags" / "a.py").chmod(0o664)  # another umask: still "not executable"
    write(moved / "docker" / "README.md", "rewritten docs\n")
    write(moved / "dags" / "sub" / "__pycache__" / "b.cpython-312.pyc", "more bytecode")
    write(moved / "dags" / "c.pyc", "stray")
    write(moved / ".venv" / "other", "outside the include list")
    assert digest_of(moved) == before


@pytest.mark.parametrize(
    "change",
    [
        lambda r: write(r / "dags" / "a.py", "A = 2\n"),
        lambda r: write(r / "dags" / "new.py", ""),
        lambda r: (r / "dags" / "sub" / "b.py").rename(r / "dags" / "sub" / "b2.py"),
        lambda r: (r / "dags" / "a.py").chmod(0o755),
        lambda r: (r / "dags" / "empty").mkdir(),
        lambda r: write(r / "docker" / "requirements.txt", "boto3==1.44.5\n"),
        lambda r: write(r / "docker" / "config" / "airflow_local_settings.py", "# other policy\n"),
        lambda r: write(r / "docker" / "Dockerfile", "FROM scratch\n"),
        lambda r: os.symlink("a.py", r / "dags" / "link.py"),
    ],
    ids=["content", "new-file", "rename", "exec-bit", "empty-dir", "requirements", "policy", "dockerfile", "symlink"],
)
def test_hash_changes_with_what_goes_into_the_image(ctx, change):
    before = digest_of(ctx)
    change(ctx)
    assert digest_of(ctx) != before


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(base="apache/airflow:3.3.1"),
        dict(build_args={"B": "apache/airflow:3.3.2", "AIRFLOW_VERSION": "3.3.2"}),
        dict(labels={"team": "data"}),
        dict(platform="linux/arm64"),  # an image for Graviton nodes is another image
        dict(exclude=["__pycache__", "*.pyc"]),  # README now part of the context
    ],
)
def test_hash_changes_with_build_settings(ctx, kwargs):
    assert digest_of(ctx, **kwargs) != digest_of(ctx)


def test_runtime_hash_leaves_out_only_the_runtime_excluded_files(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    first = run(module_args(ctx, runtime_exclude=["dags"]), ecr, FakeDocker(ecr, local=BASE), monkeypatch, capsys)
    assert first["runtime_hash"] != first["content_hash"] == digest_of(ctx)
    write(ctx / "dags" / "sub" / "new_dag.py", "C = 3\n")  # a DAG change: a new image, the same runtime
    dag_change = run(module_args(ctx, runtime_exclude=["dags"]), ecr, FakeDocker(ecr, local=BASE), monkeypatch, capsys)
    assert dag_change["changed"] is True and dag_change["tag"] != first["tag"]
    assert dag_change["runtime_hash"] == first["runtime_hash"]
    write(ctx / "docker" / "requirements.txt", "apache-airflow-providers-fab==3.0.0\n")  # the runtime changes
    runtime_change = run(module_args(ctx, runtime_exclude=["dags"]), ecr, FakeDocker(ecr, local=BASE), monkeypatch, capsys)
    assert runtime_change["runtime_hash"] not in (first["runtime_hash"], runtime_change["content_hash"])
    without = run(module_args(ctx), ecr, FakeDocker(ecr, local=BASE), monkeypatch, capsys)
    assert without["runtime_hash"] == without["content_hash"]


@pytest.mark.parametrize(
    "relpath, excluded",
    [("dags", True), ("dags/a.py", True), ("dags/sub/b.py", True), ("docker/dags.txt", False), ("docker/Dockerfile", False)],
)
def test_is_under_excluded(relpath, excluded):
    assert mod.is_under_excluded(relpath, ["dags"]) is excluded


def test_symlink_target_is_hashed_not_followed(ctx):
    os.symlink("a.py", ctx / "dags" / "link.py")
    entries = {e["path"]: e for e in mod.collect_inputs(str(ctx), INCLUDE, EXCLUDE, "docker/Dockerfile")}
    assert entries["dags/link.py"] == dict(path="dags/link.py", kind="L", target="a.py", abspath=str(ctx / "dags" / "link.py"))
    before = digest_of(ctx)
    os.remove(ctx / "dags" / "link.py")
    os.symlink("sub/b.py", ctx / "dags" / "link.py")
    assert digest_of(ctx) != before


def test_dockerfile_is_always_part_of_the_context(ctx):
    entries = mod.collect_inputs(str(ctx), ["dags"], [], "docker/Dockerfile")
    assert "docker/Dockerfile" in [e["path"] for e in entries]
    entries = mod.collect_inputs(str(ctx), ["dags", "docker"], ["docker/Dockerfile"], "docker/Dockerfile")
    assert "docker/Dockerfile" in [e["path"] for e in entries]


@pytest.mark.parametrize(
    "include, dockerfile, message",
    [
        (["../etc"], "docker/Dockerfile", "leaves the context"),
        (["/etc"], "docker/Dockerfile", "must be relative"),
        (["nope"], "docker/Dockerfile", "does not exist"),
        (["dags"], "docker/Missing", "not found"),
        ([""], "docker/Dockerfile", "empty path"),
    ],
)
def test_bad_inputs(ctx, include, dockerfile, message):
    with pytest.raises(mod.InputError, match=message):
        mod.collect_inputs(str(ctx), include, [], dockerfile)


def test_context_must_be_a_directory(tmp_path):
    with pytest.raises(mod.InputError, match="not a directory"):
        mod.collect_inputs(str(tmp_path / "missing"), ["."], [], "Dockerfile")


@pytest.mark.parametrize(
    "relpath, patterns, excluded",
    [
        ("dags/__pycache__", ["__pycache__"], True),
        ("dags/x.pyc", ["*.pyc"], True),
        ("docker/README.md", ["docker/README.md"], True),
        ("dags/README.md", ["docker/README.md"], False),
        ("dags/a.py", ["*.pyc", "__pycache__"], False),
        ("docker/config", ["docker/*"], True),
        ("docker", ["/docker/"], True),
        ("dags/a.py", ["", "  "], False),
    ],
)
def test_is_excluded(relpath, patterns, excluded):
    assert mod.is_excluded(relpath, patterns) is excluded


# ---------------------------------------------------------------- tag, tar, registry helpers


def test_image_tag():
    digest = "0123456789abcdef" * 4
    assert mod.image_tag(digest) == "0123456789abcdef"
    assert mod.image_tag(digest, prefix="3.3.2-", length=20) == "3.3.2-0123456789abcdef0123"
    assert mod.image_tag(digest, tag="release-1") == "release-1"
    for bad in [dict(length=8), dict(length=65), dict(prefix="-x"), dict(prefix="a b"), dict(tag="x" * 129)]:
        with pytest.raises(mod.InputError):
            mod.image_tag(digest, **bad)


def test_context_tar_normalizes_modes_and_owners(ctx):
    (ctx / "dags" / "a.py").chmod(0o600)
    os.symlink("a.py", ctx / "dags" / "link.py")
    entries = mod.collect_inputs(str(ctx), INCLUDE, EXCLUDE, "docker/Dockerfile")
    with tarfile.open(fileobj=mod.context_tar(entries)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert sorted(members) == [e["path"] for e in entries]
        assert members["dags/a.py"].mode == 0o644
        assert members["docker/entry.sh"].mode == 0o755
        assert members["dags"].isdir() and members["dags"].mode == 0o755
        assert members["dags/link.py"].issym() and members["dags/link.py"].linkname == "a.py"
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        assert tar.extractfile("dags/sub/b.py").read() == b"B = 2\n"
        assert ".venv/huge" not in members and "docker/README.md" not in members


@pytest.mark.parametrize(
    "ref, host",
    [
        (URI, HOST),
        ("127.0.0.1:15002/spotflow/x", "127.0.0.1:15002"),
        ("localhost/x", "localhost"),
        ("apache/airflow:3.3.2", ""),
        ("airflow", ""),
    ],
)
def test_registry_host(ref, host):
    assert mod.registry_host(ref) == host


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("apache/airflow:3.3.2", ("apache/airflow", "3.3.2")),
        ("127.0.0.1:15002/a/b:t", ("127.0.0.1:15002/a/b", "t")),
        ("127.0.0.1:15002/a/b", ("127.0.0.1:15002/a/b", "latest")),
        ("x@sha256:abc", ("x", "sha256:abc")),
    ],
)
def test_split_reference(ref, expected):
    assert mod.split_reference(ref) == expected


def token(user="AWS", password=PASSWORD, endpoint="https://" + HOST):
    raw = base64.b64encode("{0}:{1}".format(user, password).encode()).decode()
    return {"authorizationToken": raw, "proxyEndpoint": endpoint}


def test_auth_config_from_token_picks_the_matching_registry():
    data = [token(password="other", endpoint="https://999.dkr.ecr.eu-west-1.amazonaws.com"), token()]
    assert mod.auth_config_from_token(data, URI) == {"username": "AWS", "password": PASSWORD, "serveraddress": HOST}
    local = mod.auth_config_from_token([token(endpoint="http://127.0.0.1:15002")], "127.0.0.1:15002/spotflow/x")
    assert local["serveraddress"] == "127.0.0.1:15002"
    with pytest.raises(mod.InputError):
        mod.auth_config_from_token([], URI)


def test_stream_errors_and_text():
    lines = [{"stream": "Step 1/2\n"}, {"status": "Pushing", "id": "abc", "progress": "[==>"},
             {"errorDetail": {"message": "boom"}, "error": "boom"}]
    assert mod.stream_errors(lines) == ["boom"]
    assert [mod.stream_text(x) for x in lines] == ["Step 1/2", None, "boom"]


# ---------------------------------------------------------------- module doubles


def client_error(code, op):
    return ClientError({"Error": {"Code": code, "Message": code}}, op)


class FakeECR:
    """describe_repositories / list_tags_for_resource / get_lifecycle_policy /
    describe_images / get_authorization_token, as ECR answers them."""

    def __init__(self, repository=True, images=None):
        self.repository = repository
        self.images = dict(images or {})  # tag -> digest
        self.calls = []

    def describe_repositories(self, repositoryNames, aws_retry=False, **kw):
        self.calls.append("describe_repositories")
        if not self.repository:
            raise client_error("RepositoryNotFoundException", "DescribeRepositories")
        return {"repositories": [{"repositoryName": REPO, "repositoryUri": URI,
                                  "repositoryArn": "arn:aws:ecr:eu-west-1:123456789012:repository/" + REPO}]}

    def list_tags_for_resource(self, resourceArn, aws_retry=False):
        return {"tags": []}

    def get_lifecycle_policy(self, repositoryName, aws_retry=False, **kw):
        raise client_error("LifecyclePolicyNotFoundException", "GetLifecyclePolicy")

    def describe_images(self, repositoryName, imageIds, aws_retry=False, **kw):
        self.calls.append("describe_images")
        if not self.repository:
            raise client_error("RepositoryNotFoundException", "DescribeImages")
        tag = imageIds[0]["imageTag"]
        if tag not in self.images:
            raise client_error("ImageNotFoundException", "DescribeImages")
        return {"imageDetails": [{"repositoryName": REPO, "imageDigest": self.images[tag], "imageTags": [tag]}]}

    def get_authorization_token(self, aws_retry=False, **kw):
        self.calls.append("get_authorization_token")
        return {"authorizationData": [token()]}


def image(image_id, platform):
    """What inspect_image says about an image for ``platform`` (os/arch)."""
    os_, arch = (platform or "linux/amd64").split("/")[:2]
    return {"Id": image_id, "Os": os_, "Architecture": arch}


class FakeDocker:
    """The docker.APIClient calls the module makes. A push puts the tag into the FakeECR."""

    def __init__(self, ecr, local=None, pullable=True, build_error=None, emulates=True):
        self.ecr = ecr
        self.emulates = emulates  # False: builds for the daemon's own CPU (linux/amd64) whatever is asked
        self.local = dict(local or {})  # ref -> inspect dict
        self.pullable = pullable
        self.build_error = build_error
        self.calls = []

    def inspect_image(self, ref):
        self.calls.append(("inspect_image", ref))
        if ref not in self.local:
            raise docker.errors.ImageNotFound("No such image: " + ref)
        return copy.deepcopy(self.local[ref])

    def inspect_distribution(self, ref, auth_config=None):
        self.calls.append(("inspect_distribution", ref))
        if not self.pullable:
            raise docker.errors.APIError("registry unreachable")
        return {"Descriptor": {}}

    def pull(self, name, tag=None, stream=False, decode=False, auth_config=None, platform=None):
        self.calls.append(("pull", name, tag, platform))
        if not self.pullable:
            raise docker.errors.APIError("pull access denied")
        self.local["{0}:{1}".format(name, tag)] = dict(image("sha256:base", platform), Config={"Labels": {}})
        return iter([{"status": "Downloaded newer image"}])

    def build(self, **kwargs):
        self.calls.append(("build", kwargs))
        if self.build_error:
            return iter([{"stream": "Step 1/9 : FROM base\n"}, {"error": self.build_error, "errorDetail": {"message": self.build_error}}])
        made = kwargs.get("platform") if self.emulates else "linux/amd64"
        self.local[kwargs["tag"]] = dict(image("sha256:built", made), Config={"Labels": dict(kwargs["labels"])})
        return iter([{"stream": "Step 1/9 : FROM base\n"}, {"aux": {"ID": "sha256:built"}}, {"stream": "Successfully built\n"}])

    def push(self, repository, tag=None, stream=False, decode=False, auth_config=None):
        self.calls.append(("push", repository, tag, auth_config))
        self.ecr.images[tag] = "sha256:" + "d" * 64
        return iter([{"status": "Pushing"}, {"aux": {"Tag": tag, "Digest": "sha256:" + "d" * 64, "Size": 1}}])

    def images(self, filters=None):
        self.calls.append(("images", filters))
        wanted = filters["label"].split("=", 1)
        return [{"Id": i["Id"]} for i in self.local.values()
                if (i.get("Config") or {}).get("Labels", {}).get(wanted[0]) == wanted[1]]

    def remove_image(self, image, force=False):
        self.calls.append(("remove_image", image, force))
        self.local = dict((k, v) for k, v in self.local.items() if v["Id"] != image)

    def mutations(self):
        return [c[0] for c in self.calls if c[0] in ("pull", "build", "push", "remove_image")]


def module_args(ctx, **overrides):
    args = dict(
        repository=REPO, context=str(ctx), include=INCLUDE, exclude=EXCLUDE, dockerfile="docker/Dockerfile",
        base_image="apache/airflow:3.3.2", build_args={"B": "apache/airflow:3.3.2"}, tag_prefix="3.3.2-",
    )
    args.update(overrides)
    return args


def run(args, ecr, fake_docker, monkeypatch, capsys, check_mode=False):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: ecr)
    factory_calls = []

    def factory(module):
        factory_calls.append(module)
        return fake_docker

    monkeypatch.setattr(mod, "docker_api", factory)
    monkeypatch.setattr(botocore.waiter.time, "sleep", lambda s: None)
    with patch_module_args(dict(args, region="eu-west-1", _ansible_check_mode=check_mode, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    raw = capsys.readouterr().out
    result = json.loads(raw)
    result["_rc"] = exit_info.value.code
    result["_docker_connected"] = bool(factory_calls)
    assert PASSWORD not in raw, "the registry password must never be in a result"
    return result


BASE = {"apache/airflow:3.3.2": dict(image("sha256:base", "linux/amd64"), Config={"Labels": {}})}


@pytest.mark.parametrize("check_mode", [False, True])
def test_tag_in_ecr_means_no_docker_at_all(ctx, monkeypatch, capsys, check_mode):
    tag = "3.3.2-" + digest_of(ctx)[:16]
    ecr = FakeECR(images={tag: "sha256:" + "a" * 64})
    fake = FakeDocker(ecr)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys, check_mode)
    assert result["_rc"] == 0 and result["changed"] is False
    assert result["tag"] == tag and result["content_hash"] == digest_of(ctx)
    assert result["image"] == URI + ":" + tag and result["digest"] == "sha256:" + "a" * 64
    assert result["built"] is False and result["pushed"] is False
    assert result["_docker_connected"] is False and fake.calls == []
    assert "docker/Dockerfile" in result["inputs"] and "docker/README.md" not in result["inputs"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_tag_builds_and_pushes(ctx, monkeypatch, capsys, check_mode):
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys, check_mode)
    tag = "3.3.2-" + digest_of(ctx)[:16]
    assert result["_rc"] == 0 and result["changed"] is True
    assert result["built"] is True and result["pushed"] is True and result["base_image_present"] is True
    assert result["diff"] == {"before": {"image": None}, "after": {"image": URI + ":" + tag}}
    if check_mode:
        assert fake.mutations() == [] and result["digest"] == "" and tag not in ecr.images
        return
    assert fake.mutations() == ["build", "push"]
    build = [c[1] for c in fake.calls if c[0] == "build"][0]
    assert build["tag"] == URI + ":" + tag and build["dockerfile"] == "docker/Dockerfile"
    assert build["custom_context"] is True and build["pull"] is False
    assert build["labels"] == {"io.spotflow.content-hash": digest_of(ctx), "io.spotflow.ecr-repository": REPO}
    assert build["buildargs"] == {"B": "apache/airflow:3.3.2"}
    push = [c for c in fake.calls if c[0] == "push"][0]
    assert push[1:3] == (URI, tag)
    assert push[3] == {"username": "AWS", "password": PASSWORD, "serveraddress": HOST}
    assert result["digest"] == "sha256:" + "d" * 64 and result["image_id"] == "sha256:built"


def test_second_run_is_a_no_op(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE)
    first = run(module_args(ctx), ecr, fake, monkeypatch, capsys)
    second = run(module_args(ctx), ecr, FakeDocker(ecr, local=BASE), monkeypatch, capsys)
    assert first["changed"] is True and second["changed"] is False
    assert second["digest"] == first["digest"] and second["tag"] == first["tag"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_local_image_with_the_same_hash_is_pushed_without_a_rebuild(ctx, monkeypatch, capsys, check_mode):
    tag = "3.3.2-" + digest_of(ctx)[:16]
    local = dict(BASE, **{URI + ":" + tag: {"Id": "sha256:old", "Config": {"Labels": {"io.spotflow.content-hash": digest_of(ctx)}}}})
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=local)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys, check_mode)
    assert result["changed"] is True and result["built"] is False and result["pushed"] is True
    assert fake.mutations() == ([] if check_mode else ["push"])


@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_unpullable_base_image_fails_clearly(ctx, monkeypatch, capsys, check_mode):
    ecr = FakeECR()
    fake = FakeDocker(ecr, pullable=False)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys, check_mode)
    assert result["_rc"] == 1 and result["failed"] is True
    assert "apache/airflow:3.3.2 is not in the Docker daemon" in result["msg"]
    assert "build-airflow-base.sh" in result["msg"]
    assert "build" not in fake.mutations() and "push" not in fake.mutations()


def test_missing_base_image_is_pulled(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    fake = FakeDocker(ecr)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 0 and result["base_image_present"] is False
    assert fake.mutations() == ["pull", "build", "push"]
    assert ("pull", "apache/airflow", "3.3.2", "linux/amd64") in fake.calls


def test_image_is_built_for_the_nodes_platform_not_the_builders(ctx, monkeypatch, capsys):
    """An arm64 laptop (or an amd64 CI) builds what the nodes run: the platform goes to the pull
    and the build, names another tag, and a base image for the wrong CPU is pulled again."""
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE)  # the base image is here, but for amd64
    result = run(module_args(ctx, platform="linux/arm64"), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 0, result.get("msg")
    assert result["tag"] == "3.3.2-" + digest_of(ctx, platform="linux/arm64")[:16] != "3.3.2-" + digest_of(ctx)[:16]
    assert ("pull", "apache/airflow", "3.3.2", "linux/arm64") in fake.calls
    assert [c[1]["platform"] for c in fake.calls if c[0] == "build"] == ["linux/arm64"]


def test_build_for_a_platform_the_daemon_cannot_make_fails_before_the_push(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    base = {"apache/airflow:3.3.2": dict(image("sha256:base", "linux/arm64"), Config={"Labels": {}})}
    fake = FakeDocker(ecr, local=base, emulates=False)
    result = run(module_args(ctx, platform="linux/arm64"), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 1
    assert "made an image for linux/amd64, not for platform linux/arm64" in result["msg"]
    assert "push" not in fake.mutations()


def test_bad_platform_fails_before_any_call(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE)
    result = run(module_args(ctx, platform="arm64"), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 1 and "platform must be os/arch" in result["msg"] and "'arm64'" in result["msg"]
    assert ecr.calls == [] and fake.calls == []


def test_check_mode_without_repository_predicts_everything(ctx, monkeypatch, capsys):
    ecr = FakeECR(repository=False)
    fake = FakeDocker(ecr, local=BASE)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys, check_mode=True)
    assert result["_rc"] == 0 and result["changed"] is True
    assert result["built"] is True and result["pushed"] is True
    assert result["repository_uri"] == "" and result["image"] == ""
    assert result["tag"] == "3.3.2-" + digest_of(ctx)[:16]
    assert fake.mutations() == []


def test_missing_repository_fails_outside_check_mode(ctx, monkeypatch, capsys):
    ecr = FakeECR(repository=False)
    fake = FakeDocker(ecr, local=BASE)
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 1 and "does not exist" in result["msg"] and fake.mutations() == []


def test_build_error_fails_with_the_log(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE, build_error="The command '/bin/sh -c python check_image.py' returned a non-zero code: 1")
    result = run(module_args(ctx), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 1 and "returned a non-zero code" in result["msg"]
    assert result["build_log"][0] == "Step 1/9 : FROM base"
    assert "push" not in fake.mutations()


def test_bad_inputs_fail_before_any_call(ctx, monkeypatch, capsys):
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=BASE)
    result = run(module_args(ctx, include=["../outside"]), ecr, fake, monkeypatch, capsys)
    assert result["_rc"] == 1 and "leaves the context" in result["msg"]
    assert ecr.calls == [] and fake.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_removes_our_local_images_only(ctx, monkeypatch, capsys, check_mode):
    local = dict(BASE, **{
        URI + ":a": {"Id": "sha256:ours", "Config": {"Labels": {"io.spotflow.ecr-repository": REPO}}},
        "other:b": {"Id": "sha256:theirs", "Config": {"Labels": {"io.spotflow.ecr-repository": "someone/else"}}},
    })
    ecr = FakeECR()
    fake = FakeDocker(ecr, local=local)
    result = run({"repository": REPO, "state": "absent"}, ecr, fake, monkeypatch, capsys, check_mode)
    assert result["changed"] is True and result["removed_images"] == ["sha256:ours"]
    assert fake.mutations() == ([] if check_mode else ["remove_image"])
    assert ecr.calls == []
    again = run({"repository": REPO, "state": "absent"}, ecr, fake, monkeypatch, capsys, check_mode)
    assert again["changed"] is check_mode  # in check mode nothing was removed the first time
