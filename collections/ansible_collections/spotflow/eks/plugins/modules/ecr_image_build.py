#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ecr_image_build
version_added: 0.1.0
short_description: Build a container image tagged with a hash of its inputs and push it to Amazon ECR, unless ECR has it
description:
  - Computes a content hash of everything that goes into the image (the files sent
    as build context, the Dockerfile path, the base image reference, build
    arguments and labels) and tags the image with it (O(tag_prefix) + the first
    O(hash_length) hex digits). The same inputs give the same tag on any machine
    and in any directory.
  - When the tag is already in the ECR repository (C(DescribeImages)) nothing else
    happens, not even a connection to the Docker daemon, and the result is C(changed=false).
  - Otherwise the image is built by the Docker daemon (Docker SDK for Python, legacy
    builder, context sent as a tar stream of exactly the hashed files), pushed with
    the registry credentials of C(GetAuthorizationToken) (passed to the daemon for
    this push only, never written to a Docker config file), and the module waits
    until ECR lists the tag. An image with that name and content hash already in
    the daemon (an earlier push failed) is pushed without a rebuild.
  - Before a build, O(base_image) must be in the daemon or pullable; the module pulls
    it when it is missing and fails with a clear message when it cannot.
  - In check mode the module computes the tag and reports whether a build and a push
    would happen; it changes nothing (no build, pull or push).
  - V(state=absent) removes the images this module built for O(repository) from the
    local Docker daemon (found by the label C(io.spotflow.ecr-repository)). It never
    touches ECR; M(spotflow.eks.ecr_repository) deletes the repository and its images.
author:
  - Spotflow maintainers (@spotflow)
requirements:
  - docker (the Docker SDK for Python) >= 5.0 on the host that runs the module
  - a Docker daemon reachable from that host
options:
  state:
    description:
      - V(present) builds and pushes when ECR lacks the tag; V(absent) removes local images of O(repository).
    type: str
    choices: [present, absent]
    default: present
  repository:
    description:
      - Name of the ECR repository (not its URI), for example V(spotflow/dev/airflow). It must exist
        for a push (in check mode a missing repository means "would build and push").
    type: str
    required: true
  registry_id:
    description:
      - AWS account ID of the registry. Default is the caller's account.
    type: str
  context:
    description:
      - Directory the build context is taken from. Required with O(state=present).
    type: path
  include:
    description:
      - Files and directories, relative to O(context), that make up the build context
        (directories recursively). Nothing else is sent to the daemon or hashed.
    type: list
    elements: str
    default: ['.']
  exclude:
    description:
      - C(fnmatch) patterns of paths left out of the build context and the hash. A pattern
        with a C(/) is matched against the path relative to O(context), one without
        against every file and directory name (V(__pycache__) anywhere).
    type: list
    elements: str
    default: ['__pycache__', '*.pyc', '*.pyo']
  runtime_exclude:
    description:
      - Patterns (as O(exclude); a pattern also covers everything under a directory it matches) of
        context files that change what the image runs, not what it runs with (DAGs). RV(runtime_hash)
        is the content hash without them, so a consumer that depends only on the runtime (Airflow,
        its providers and packages, as a database migration does) can key on it and skip work when
        only DAGs changed. The files stay in the context and in RV(content_hash).
    type: list
    elements: str
    default: []
  dockerfile:
    description:
      - Path of the Dockerfile relative to O(context). Always part of the context and the hash.
    type: str
    default: Dockerfile
  base_image:
    description:
      - The image the Dockerfile builds C(FROM) (pass it as a build argument too if the
        Dockerfile takes it from one). Part of the hash as a reference; pin it by digest
        (V(name@sha256:...)) to rebuild when the base image changes under the same tag.
      - Before a build it is taken from the daemon or pulled. When its registry is the
        ECR registry of O(repository), the pull uses the ECR credentials.
    type: str
  build_args:
    description:
      - Build arguments (C(--build-arg)). Part of the hash, so do not pass values that change
        on every run (a date) unless a new image each run is wanted.
    type: dict
    default: {}
  network_mode:
    description:
      - The network the build's C(RUN) steps use (C(docker build --network)). V(host) (the
        default) needs no bridge, NAT or IP forwarding of the daemon, so it works with a daemon
        started with C(--bridge=none --iptables=false) (hardened CI runners, the local cloud)
        as well as with a default one; V(default) uses the daemon's default network. Not part
        of the hash.
    type: str
    default: host
  labels:
    description:
      - Extra image labels. Part of the hash. The module adds C(io.spotflow.content-hash)
        and C(io.spotflow.ecr-repository).
    type: dict
    default: {}
  platform:
    description:
      - The platform the image is built for, C(os/arch[/variant]), for example V(linux/amd64) or
        V(linux/arm64). It must be the architecture of the nodes that run the image (an arm64
        image on x86 nodes fails with C(exec format error)), whatever the CPU of the machine
        that builds it. Part of the hash, so images for two platforms get two tags.
      - The base image is pulled for this platform when the daemon has it for another one, and
        the build fails when the built image is not for this platform (building for another CPU
        needs the daemon to emulate it, for example with binfmt/QEMU).
    type: str
    default: linux/amd64
  tag:
    description:
      - Use this tag instead of the content hash. The hash is still computed and returned.
    type: str
  tag_prefix:
    description:
      - Text before the hash in the computed tag, for example V(3.3.2-).
    type: str
    default: ''
  hash_length:
    description:
      - Hex digits of the SHA-256 content hash in the computed tag (12 to 64).
    type: int
    default: 16
  docker_host:
    description:
      - Docker daemon address (V(unix:///var/run/docker.sock), V(tcp://host:2376)). Default
        is C(DOCKER_HOST) and the other C(DOCKER_*) variables, else the local socket.
    type: str
  docker_timeout:
    description:
      - Seconds the Docker client waits for an answer (one read; a build that keeps printing is not cut off).
    type: int
    default: 600
  wait_timeout:
    description:
      - Seconds to wait after the push until ECR lists the tag.
    type: int
    default: 120
notes:
  - Member of the action group C(spotflow.eks.aws) (it calls ECR).
  - The context hash covers file contents, paths relative to O(context), and whether a file is
    executable; not modification times, owners or other mode bits. The tar sent to the daemon uses
    the same normalized modes (0755/0644, owner root), so the image is a function of the hash.
  - Symbolic links are sent and hashed as links (their target text), never followed.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: aws, docker
"""

EXAMPLES = r"""
- name: Build the Airflow image and push it unless ECR has this content already
  spotflow.eks.ecr_image_build:
    repository: spotflow/dev/airflow
    context: "{{ playbook_dir }}/.."
    include: [dags, docker]
    exclude: [docker/README.md, __pycache__, "*.pyc"]
    runtime_exclude: [dags]  # runtime_hash: the same when only DAGs change
    dockerfile: docker/Dockerfile
    base_image: apache/airflow:3.3.2
    build_args:
      AIRFLOW_BASE_IMAGE: apache/airflow:3.3.2
      AIRFLOW_VERSION: "3.3.2"
    tag_prefix: "3.3.2-"
  register: image

- name: Use it
  ansible.builtin.debug:
    msg: "{{ image.image }} ({{ image.digest }})"

- name: Remove the local images built for the repository
  spotflow.eks.ecr_image_build:
    repository: spotflow/dev/airflow
    state: absent
"""

RETURN = r"""
content_hash:
  description: SHA-256 (hex) of the build inputs. Empty with O(state=absent).
  returned: always
  type: str
  sample: 5e0c5fd3f2b0a1c9e2d7a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8
runtime_hash:
  description:
    - SHA-256 (hex) of the build inputs without the files of O(runtime_exclude); equal to RV(content_hash)
      when O(runtime_exclude) is empty. Two images with the same runtime hash differ only in those files.
      Empty with O(state=absent).
  returned: always
  type: str
  sample: 0b7e3c2a9f1d4e5c6b7a8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c
tag:
  description: The image tag (O(tag), else O(tag_prefix) + the first O(hash_length) digits of RV(content_hash)).
  returned: when state is present
  type: str
  sample: 3.3.2-5e0c5fd3f2b0a1c9
repository_uri:
  description: URI of the repository; empty when it does not exist (check mode).
  returned: always
  type: str
  sample: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/spotflow/dev/airflow
image:
  description: RV(repository_uri)C(:)RV(tag); empty when the repository does not exist (check mode).
  returned: when state is present
  type: str
  sample: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/spotflow/dev/airflow:3.3.2-5e0c5fd3f2b0a1c9
digest:
  description: The image manifest digest ECR reports for the tag; empty when it is not (yet) there.
  returned: when state is present
  type: str
  sample: sha256:8f1e0f3c1c2b5d0e4a7b9c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f
image_details:
  description: C(DescribeImages)' entry for the tag, snake_case; empty when it is not (yet) there.
  returned: when state is present
  type: dict
built:
  description: Whether the image was (in check mode, would be) built.
  returned: when state is present
  type: bool
pushed:
  description: Whether the image was (in check mode, would be) pushed.
  returned: when state is present
  type: bool
image_id:
  description: ID of the local image that was built or pushed; empty when nothing was done.
  returned: when state is present
  type: str
base_image_present:
  description: Whether O(base_image) was in the daemon before the run (null when the daemon was not asked).
  returned: when state is present
  type: bool
inputs:
  description: Paths (relative to O(context)) of the files in the build context and the hash.
  returned: when state is present
  type: list
  elements: str
removed_images:
  description: With O(state=absent), IDs of the local images removed (in check mode, that would be).
  returned: when state is absent
  type: list
  elements: str
build_log:
  description: The last lines of the build or push output, when it failed.
  returned: on failure of a build or push
  type: list
  elements: str
"""

import base64
import fnmatch
import hashlib
import io
import json
import math
import os
import re
import stat
import tarfile
import traceback

try:
    import botocore.exceptions
    import botocore.waiter as core_waiter
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

DOCKER_IMPORT_ERROR = None
try:
    import docker
    import docker.errors
except ImportError:
    docker = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import waiter_failure
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import IMAGE_NOT_FOUND
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import describe_repository
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import find_image
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import image_to_result
from ansible_collections.spotflow.eks.plugins.module_utils.ecr import registry_kwargs

HASH_SCHEME = "spotflow.eks.ecr_image_build/v2"  # v2: the platform is hashed
LABEL_HASH = "io.spotflow.content-hash"
LABEL_REPOSITORY = "io.spotflow.ecr-repository"
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
LOG_TAIL = 40

_TAG_WAITER = {
    "version": 2,
    "waiters": {
        "ImageTagPresent": {
            "operation": "DescribeImages",
            "delay": 2,
            "maxAttempts": 60,
            "acceptors": [
                {"matcher": "path", "argument": "length(imageDetails) > `0`", "expected": True, "state": "success"},
                {"matcher": "error", "expected": IMAGE_NOT_FOUND, "state": "retry"},
                {"matcher": "error", "expected": "ThrottlingException", "state": "retry"},
            ],
        }
    },
}


class InputError(ValueError):
    """A problem with the build inputs (paths, tag), reported with fail_json."""


# ---------------------------------------------------------------- inputs and hash


def _rel_parts(path):
    """A relative path as normalized POSIX parts; refuses absolute paths and '..'."""
    if path is None or path.strip() == "":
        raise InputError("empty path in include")
    if os.path.isabs(path):
        raise InputError("{0!r} must be relative to the context directory".format(path))
    parts = [p for p in path.replace(os.sep, "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InputError("{0!r} leaves the context directory ('..')".format(path))
    return parts


def is_excluded(relpath, patterns):
    """Whether ``relpath`` (POSIX, relative) matches an exclude pattern (see O(exclude))."""
    name = relpath.rsplit("/", 1)[-1]
    for pattern in patterns or []:
        pattern = pattern.strip().strip("/")
        if not pattern:
            continue
        if "/" in pattern:
            if fnmatch.fnmatchcase(relpath, pattern):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _entry(context, relpath):
    """One context entry: dict(path, kind D|F|L, exec, abspath, sha256|target)."""
    abspath = os.path.join(context, *relpath.split("/")) if relpath else context
    st = os.lstat(abspath)
    if stat.S_ISLNK(st.st_mode):
        return dict(path=relpath, kind="L", target=os.readlink(abspath), abspath=abspath)
    if stat.S_ISDIR(st.st_mode):
        return dict(path=relpath, kind="D", abspath=abspath)
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha256()
        with open(abspath, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return dict(path=relpath, kind="F", exec=bool(st.st_mode & 0o111), sha256=digest.hexdigest(), abspath=abspath)
    raise InputError("{0!r} is neither a file, a directory nor a symbolic link".format(relpath))


def collect_inputs(context, include, exclude, dockerfile):
    """The build context: a sorted list of entries (see _entry), without duplicates.

    Directories in ``include`` are walked recursively without following symbolic
    links; excluded directories are pruned. The Dockerfile is always included.
    """
    if not os.path.isdir(context):
        raise InputError("context {0!r} is not a directory".format(context))
    entries = {}

    def add(relpath):
        if relpath not in entries:
            entries[relpath] = _entry(context, relpath)

    for item in include or ["."]:
        relpath = "/".join(_rel_parts(item))
        abspath = os.path.join(context, *relpath.split("/")) if relpath else context
        if not os.path.lexists(abspath):
            raise InputError("{0!r} (in include) does not exist in {1}".format(item, context))
        if relpath and is_excluded(relpath, exclude):
            continue
        if os.path.isdir(abspath) and not os.path.islink(abspath):
            for root, dirs, files in os.walk(abspath, followlinks=False):
                rel_root = os.path.relpath(root, context).replace(os.sep, "/")
                rel_root = "" if rel_root == "." else rel_root
                if rel_root:
                    add(rel_root)
                kept = []
                for d in sorted(dirs):
                    child = d if not rel_root else rel_root + "/" + d
                    if is_excluded(child, exclude):
                        continue
                    if os.path.islink(os.path.join(root, d)):
                        add(child)  # a link to a directory is a link
                    else:
                        kept.append(d)
                dirs[:] = kept
                for name in sorted(files):
                    child = name if not rel_root else rel_root + "/" + name
                    if not is_excluded(child, exclude):
                        add(child)
        else:
            add(relpath)

    docker_rel = "/".join(_rel_parts(dockerfile))
    if not docker_rel:
        raise InputError("dockerfile must name a file")
    docker_abs = os.path.join(context, *docker_rel.split("/"))
    if not os.path.isfile(docker_abs):
        raise InputError("Dockerfile {0!r} not found in {1}".format(dockerfile, context))
    add(docker_rel)
    return [entries[k] for k in sorted(entries)]


def is_under_excluded(relpath, patterns):
    """Whether ``relpath`` or a directory above it matches a pattern (see O(runtime_exclude))."""
    parts = relpath.split("/")
    return any(is_excluded("/".join(parts[: i + 1]), patterns) for i in range(len(parts)))


def content_hash(entries, dockerfile, base_image, build_args, labels, platform="linux/amd64"):
    """SHA-256 (hex) of the build inputs; independent of the context's location and of mtimes."""
    records = []
    for e in entries:
        if e["kind"] == "F":
            records.append(["F", e["path"], "x" if e["exec"] else "-", e["sha256"]])
        elif e["kind"] == "L":
            records.append(["L", e["path"], e["target"]])
        else:
            records.append(["D", e["path"]])
    document = {
        "scheme": HASH_SCHEME,
        "dockerfile": "/".join(_rel_parts(dockerfile)),
        "base_image": base_image or "",
        "platform": platform,
        "build_args": dict((str(k), "" if v is None else str(v)) for k, v in (build_args or {}).items()),
        "labels": dict((str(k), "" if v is None else str(v)) for k, v in (labels or {}).items()),
        "files": records,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_tag(digest, tag=None, prefix="", length=16):
    """O(tag), or O(tag_prefix) + the first ``length`` digits of the hash; validated."""
    if not tag:
        if not 12 <= int(length) <= 64:
            raise InputError("hash_length must be between 12 and 64, got {0}".format(length))
        tag = (prefix or "") + digest[: int(length)]
    if not TAG_RE.match(tag):
        raise InputError(
            "image tag {0!r} is not valid: letters, digits, '_', '.', '-', at most 128 characters, "
            "not starting with '.' or '-'".format(tag)
        )
    return tag


def context_tar(entries):
    """The build context as an uncompressed tar (a file object at position 0).

    Modes are normalized (directories and executables 0755, other files 0644) and
    owners are root, so the image depends on what the hash covers.
    """
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            st = os.lstat(e["abspath"])
            info = tarfile.TarInfo(e["path"])
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = int(st.st_mtime)
            if e["kind"] == "D":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            elif e["kind"] == "L":
                info.type = tarfile.SYMTYPE
                info.linkname = e["target"]
                info.mode = 0o777
                tar.addfile(info)
            else:
                info.mode = 0o755 if e["exec"] else 0o644
                info.size = st.st_size
                with open(e["abspath"], "rb") as f:
                    tar.addfile(info, f)
    buf.seek(0)
    return buf


# ---------------------------------------------------------------- registry helpers


def registry_host(uri):
    """The registry host of a repository URI or image reference ('' for Docker Hub)."""
    first = uri.split("/", 1)[0]
    if "/" in uri and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def parse_platform(platform):
    """``[os, arch, variant or None]`` of ``os/arch[/variant]``; InputError otherwise."""
    parts = (platform or "").split("/")
    if len(parts) not in (2, 3) or not all(re.match(r"^[a-z0-9_]+$", x) for x in parts):
        raise InputError("platform must be os/arch[/variant], for example linux/amd64 or linux/arm64, got {0!r}".format(platform))
    return parts + [None] * (3 - len(parts))


def image_platform(details):
    """``os/arch[/variant]`` of an image as the daemon's inspect reports it."""
    parts = [details.get("Os") or "", details.get("Architecture") or ""]
    if details.get("Variant"):
        parts.append(details["Variant"])
    return "/".join(parts)


def platform_matches(details, platform):
    """Whether an inspected image is for ``platform`` (a variant counts only when both name one)."""
    want_os, want_arch, want_variant = parse_platform(platform)
    if (details.get("Os"), details.get("Architecture")) != (want_os, want_arch):
        return False
    return not (want_variant and details.get("Variant") and details["Variant"] != want_variant)


def split_reference(ref):
    """``(repository, tag or digest)`` of an image reference, for pull."""
    if "@" in ref:
        name, digest = ref.split("@", 1)
        return name, digest
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = ref.rsplit(":", 1)
        return name, tag
    return ref, "latest"


def auth_config_from_token(authorization_data, uri):
    """Docker auth config for ``uri`` from C(GetAuthorizationToken)'s C(authorizationData)."""
    host = registry_host(uri)
    chosen = None
    for data in authorization_data or []:
        endpoint = re.sub(r"^[a-z]+://", "", data.get("proxyEndpoint") or "").rstrip("/")
        if endpoint == host:
            chosen = data
            break
    if chosen is None and authorization_data:
        chosen = authorization_data[0]
    if chosen is None:
        raise InputError("ECR returned no authorization data")
    user, _sep, password = base64.b64decode(chosen["authorizationToken"]).decode("utf-8").partition(":")
    return {"username": user, "password": password, "serveraddress": host or chosen.get("proxyEndpoint")}


def stream_errors(lines):
    """Error messages in a decoded Docker build/push/pull stream."""
    errors = []
    for line in lines:
        if isinstance(line, dict) and (line.get("error") or line.get("errorDetail")):
            errors.append(line.get("error") or (line.get("errorDetail") or {}).get("message") or str(line))
    return errors


def stream_text(line):
    if not isinstance(line, dict):
        return str(line)
    for key in ("stream", "status", "error"):
        if line.get(key):
            text = str(line[key]).rstrip("\n")
            if line.get("progress"):
                return None  # progress bars are noise
            if key == "status" and line.get("id"):
                text = "{0}: {1}".format(line["id"], text)
            return text
    return None


# ---------------------------------------------------------------- the module


class ImageBuilder:
    def __init__(self, module, ecr, docker_factory):
        self.module = module
        self.ecr = ecr
        self.params = module.params
        self._docker_factory = docker_factory
        self._api = None
        self.log = []

    # -- docker
    @property
    def api(self):
        """The Docker API client, connected on first use (not at all when ECR has the tag)."""
        if self._api is None:
            self._api = self._docker_factory(self.module)
        return self._api

    def _consume(self, stream, what):
        """Read a decoded Docker stream; fail with the log tail on an error. Returns the lines."""
        lines = []
        try:
            for line in stream:
                lines.append(line)
                text = stream_text(line)
                if text:
                    self.log.append(text)
        except docker.errors.APIError as e:
            self.fail("{0} failed: {1}".format(what, e))
        errors = stream_errors(lines)
        if errors:
            self.fail("{0} failed: {1}".format(what, errors[-1]))
        return lines

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, build_log=self.log[-LOG_TAIL:], **extra)

    def local_image(self, ref):
        try:
            return self.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as e:
            self.fail("Failed to inspect the local image {0}: {1}".format(ref, e))

    # -- ECR
    def ecr_auth(self, uri):
        try:
            answer = self.ecr.get_authorization_token(
                aws_retry=True, **({"registryIds": [self.params["registry_id"]]} if self.params.get("registry_id") else {})
            )
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to get an ECR authorization token")
        try:
            return auth_config_from_token(answer.get("authorizationData"), uri)
        except (InputError, ValueError, KeyError) as e:
            self.module.fail_json(msg="Unusable ECR authorization token: {0}".format(e))

    def find_image(self, tag):
        try:
            return find_image(self.ecr, self.params["repository"], tag, self.params.get("registry_id"), retry=True)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to look up tag {0} in ECR repository {1}".format(tag, self.params["repository"]))

    def wait_for_tag(self, tag):
        model = core_waiter.WaiterModel(waiter_config=_TAG_WAITER).get_waiter("ImageTagPresent")
        waiter = core_waiter.Waiter("ImageTagPresent", model, core_waiter.NormalizedOperationMethod(self.ecr.describe_images))
        timeout = self.params["wait_timeout"]
        attempts = max(1, int(math.ceil(float(timeout) / model.delay))) + 1
        try:
            waiter.wait(
                WaiterConfig={"Delay": model.delay, "MaxAttempts": attempts},
                repositoryName=self.params["repository"],
                imageIds=[{"imageTag": tag}],
                **registry_kwargs(self.params.get("registry_id"))
            )
        except botocore.exceptions.WaiterError as e:
            what = "tag {0} in ECR repository {1}".format(tag, self.params["repository"])
            self.module.fail_json(**waiter_failure(e, what, "ImageTagPresent", timeout))

    # -- steps
    def ensure_base_image(self, repository_uri):
        """Whether the base image was already in the daemon; pulls it (not in check mode) or fails."""
        base = self.params.get("base_image")
        if not base:
            return None
        platform = self.params["platform"]
        present = self.local_image(base)
        if present is not None and platform_matches(present, platform):
            return True
        auth = None
        if repository_uri and registry_host(base) and registry_host(base) == registry_host(repository_uri):
            auth = self.ecr_auth(base)
        hint = (
            "The base image {0} is not in the Docker daemon and {1}. Make it pullable from this host "
            "(registry access, credentials) or load it into the daemon first (docker load / docker build; "
            "for the local cloud: localcloud/images/build-airflow-base.sh)."
        )
        if self.module.check_mode:
            try:
                self.api.inspect_distribution(base, auth_config=auth)
            except docker.errors.APIError as e:
                self.fail(hint.format(base, "its registry does not answer for it ({0})".format(e)))
            return False
        name, ref = split_reference(base)
        try:
            stream = self.api.pull(name, tag=ref, stream=True, decode=True, auth_config=auth, platform=platform)
            self._consume(stream, "pull of {0}".format(base))
        except docker.errors.APIError as e:
            self.fail(hint.format(base, "cannot be pulled ({0})".format(e)))
        pulled = self.local_image(base)
        if pulled is None:
            self.fail(hint.format(base, "the pull did not produce it"))
        if not platform_matches(pulled, platform):
            self.fail("The base image {0} is for {1}, not for platform {2}: its registry has no {2} variant of it".format(
                base, image_platform(pulled), platform))
        return False

    def build(self, entries, image_ref, digest):
        labels = dict((str(k), str(v)) for k, v in (self.params.get("labels") or {}).items())
        labels[LABEL_HASH] = digest
        labels[LABEL_REPOSITORY] = self.params["repository"]
        buildargs = dict((str(k), "" if v is None else str(v)) for k, v in (self.params.get("build_args") or {}).items())
        try:
            stream = self.api.build(
                fileobj=context_tar(entries),
                custom_context=True,
                dockerfile="/".join(_rel_parts(self.params["dockerfile"])),
                tag=image_ref,
                buildargs=buildargs,
                labels=labels,
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
                platform=self.params["platform"],
                network_mode=self.params["network_mode"],
            )
            lines = self._consume(stream, "docker build of {0}".format(image_ref))
        except docker.errors.APIError as e:
            self.fail("docker build of {0} failed: {1}".format(image_ref, e))
        image_id = ""
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("aux"), dict) and line["aux"].get("ID"):
                image_id = line["aux"]["ID"]
        built = self.local_image(image_ref)
        if built is None:
            self.fail("docker build of {0} reported success but the image is not in the daemon".format(image_ref))
        if not platform_matches(built, self.params["platform"]):
            self.fail("docker build of {0} made an image for {1}, not for platform {2} (building for another CPU needs "
                      "the daemon to emulate it, for example binfmt/QEMU)".format(image_ref, image_platform(built), self.params["platform"]))
        return image_id or built.get("Id", "")

    def push(self, repository_uri, tag):
        auth = self.ecr_auth(repository_uri)
        try:
            stream = self.api.push(repository_uri, tag=tag, stream=True, decode=True, auth_config=auth)
            lines = self._consume(stream, "docker push of {0}:{1}".format(repository_uri, tag))
        except docker.errors.APIError as e:
            self.fail("docker push of {0}:{1} failed: {2}".format(repository_uri, tag, e))
        for line in lines:
            if isinstance(line, dict) and isinstance(line.get("aux"), dict) and line["aux"].get("Digest"):
                return line["aux"]["Digest"]
        return ""

    def ensure_present(self):
        p = self.params
        if not p.get("context"):
            self.module.fail_json(msg="context is required with state=present")
        try:
            entries = collect_inputs(p["context"], p["include"], p["exclude"], p["dockerfile"])
            parse_platform(p["platform"])
            settings = (p["dockerfile"], p.get("base_image"), p.get("build_args"), p.get("labels"), p["platform"])
            digest = content_hash(entries, *settings)
            runtime = [e for e in entries if not is_under_excluded(e["path"], p["runtime_exclude"])]
            runtime_digest = content_hash(runtime, *settings) if len(runtime) < len(entries) else digest
            tag = image_tag(digest, p.get("tag"), p.get("tag_prefix"), p["hash_length"])
        except (InputError, OSError) as e:
            self.module.fail_json(msg="Build inputs: {0}".format(e))

        result = dict(
            changed=False, content_hash=digest, runtime_hash=runtime_digest, tag=tag,
            repository_uri="", image="", digest="", image_details={},
            built=False, pushed=False, image_id="", base_image_present=None,
            inputs=[e["path"] for e in entries if e["kind"] != "D"],
        )
        try:
            repo = describe_repository(self.ecr, p["repository"], p.get("registry_id"), retry=True)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to describe ECR repository {0}".format(p["repository"]))
        if repo is None and not self.module.check_mode:
            self.module.fail_json(
                msg="ECR repository {0} does not exist; create it first (spotflow.eks.ecr_repository)".format(p["repository"]),
                **result
            )
        uri = (repo or {}).get("repositoryUri") or ""
        image_ref = "{0}:{1}".format(uri, tag) if uri else ""
        result.update(repository_uri=uri, image=image_ref)

        found = self.find_image(tag) if repo else None
        if found:
            result.update(digest=found.get("imageDigest") or "", image_details=image_to_result(found))
            return result

        local = self.local_image(image_ref) if image_ref else None
        need_build = not (local and (local.get("Config") or {}).get("Labels", {}).get(LABEL_HASH) == digest)
        if need_build:
            result["base_image_present"] = self.ensure_base_image(uri)
        result.update(changed=True, built=need_build, pushed=True)
        if self.module._diff:
            result["diff"] = dict(before={"image": None}, after={"image": image_ref or "<new repository>:" + tag})
        if self.module.check_mode:
            return result

        if need_build:
            result["image_id"] = self.build(entries, image_ref, digest)
        else:
            result["image_id"] = local.get("Id", "")
        pushed_digest = self.push(uri, tag)
        self.wait_for_tag(tag)
        found = self.find_image(tag)
        if not found:
            self.fail("ECR does not list {0} after the push".format(image_ref))
        result.update(digest=found.get("imageDigest") or "", image_details=image_to_result(found))
        if pushed_digest and result["digest"] and pushed_digest != result["digest"]:
            self.module.warn(
                "The push reported digest {0} but ECR lists {1} for {2}".format(pushed_digest, result["digest"], image_ref)
            )
        return result

    def ensure_absent(self):
        try:
            images = self.api.images(filters={"label": "{0}={1}".format(LABEL_REPOSITORY, self.params["repository"])})
        except docker.errors.APIError as e:
            self.fail("Failed to list local images: {0}".format(e))
        ids = sorted(set(i["Id"] for i in images or []))
        result = dict(changed=bool(ids), removed_images=ids, content_hash="", runtime_hash="", repository_uri="")
        if self.module._diff:
            result["diff"] = dict(before={"local_images": ids}, after={"local_images": []})
        if self.module.check_mode:
            return result
        for image_id in ids:
            try:
                self.api.remove_image(image_id, force=True)
            except docker.errors.ImageNotFound:
                pass
            except docker.errors.APIError as e:
                self.fail("Failed to remove local image {0}: {1}".format(image_id, e))
        return result


def docker_api(module):
    """A low-level Docker API client for the module's O(docker_host), pinged; fails clearly."""
    host = module.params.get("docker_host")
    timeout = module.params["docker_timeout"]
    try:
        if host:
            client = docker.APIClient(base_url=host, timeout=timeout)
        else:
            client = docker.from_env(timeout=timeout).api
        client.ping()
    except Exception as e:  # DockerException, requests' ConnectionError, ...
        module.fail_json(
            msg="Cannot reach the Docker daemon at {0}: {1}".format(host or os.environ.get("DOCKER_HOST") or "the default socket", e)
        )
    return client


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        repository=dict(type="str", required=True),
        registry_id=dict(type="str"),
        context=dict(type="path"),
        include=dict(type="list", elements="str", default=["."]),
        exclude=dict(type="list", elements="str", default=["__pycache__", "*.pyc", "*.pyo"]),
        runtime_exclude=dict(type="list", elements="str", default=[]),
        dockerfile=dict(type="str", default="Dockerfile"),
        base_image=dict(type="str"),
        build_args=dict(type="dict", default={}),
        labels=dict(type="dict", default={}),
        platform=dict(type="str", default="linux/amd64"),
        network_mode=dict(type="str", default="host"),
        tag=dict(type="str"),
        tag_prefix=dict(type="str", default=""),
        hash_length=dict(type="int", default=16),
        docker_host=dict(type="str"),
        docker_timeout=dict(type="int", default=600),
        wait_timeout=dict(type="int", default=120),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[["state", "present", ["context"]]],
    )
    if docker is None:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    ecr = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff())
    builder = ImageBuilder(module, ecr, docker_api)
    if module.params["state"] == "present":
        result = builder.ensure_present()
    else:
        result = builder.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
