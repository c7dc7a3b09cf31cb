"""ECR in front of the local cloud's real registry (Debian's docker-registry)."""

from __future__ import annotations

import datetime
import json
import logging

LOG = logging.getLogger("localcloud.aws.ecr")


class Registry:
    """A tiny client of the Docker Registry HTTP API v2 (the local docker-registry)."""

    MANIFEST_TYPES = ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ])

    def __init__(self, base: str):
        self.base = base

    def _req(self, method: str, path: str, headers: dict | None = None):
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers or {}), b""

    def tags(self, repo: str) -> list[str]:
        code, _h, body = self._req("GET", f"/v2/{repo}/tags/list")
        if code != 200:
            return []
        return json.loads(body).get("tags") or []

    def manifest(self, repo: str, ref: str) -> tuple[str, str, str] | None:
        code, headers, body = self._req("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": self.MANIFEST_TYPES})
        if code != 200:
            return None
        h = {k.lower(): v for k, v in headers.items()}
        return body.decode(), h.get("content-type", ""), h.get("docker-content-digest", "")

    def delete(self, repo: str, digest: str) -> None:
        self._req("DELETE", f"/v2/{repo}/manifests/{digest}")


def patch_ecr(cfg) -> None:
    from moto.ecr.models import ECRBackend, Repository
    from moto.ecr.responses import ECRResponse

    registry = Registry(f"http://{cfg.host}:{cfg.registry_port}")
    host = f"{cfg.host}:{cfg.registry_port}"

    orig_repo_init = Repository.__init__

    def repo_init(self, *args, **kwargs):
        orig_repo_init(self, *args, **kwargs)
        self.uri = f"{host}/{self.name}"

    Repository.__init__ = repo_init

    orig_token = ECRResponse.get_authorization_token

    def get_authorization_token(self):
        result = orig_token(self)
        for data in result.result["authorizationData"]:  # type: ignore[attr-defined]
            data["proxyEndpoint"] = f"http://{host}"
            data["expiresAt"] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)
        return result

    ECRResponse.get_authorization_token = get_authorization_token

    def sync(backend, repository_name: str) -> None:
        repo = backend.repositories.get(repository_name)
        if repo is None:
            return
        known = {t for img in repo.images for t in (img.image_tags or [])}
        for tag in registry.tags(repository_name):
            if tag in known:
                continue
            found = registry.manifest(repository_name, tag)
            if found:
                manifest, media_type, digest = found
                try:
                    backend.put_image(repository_name, manifest, tag, media_type or None, digest or None)
                except Exception as e:  # an identical image already tagged: fine
                    LOG.debug("ecr sync %s:%s: %s", repository_name, tag, e)

    for name in ("list_images", "describe_images", "batch_get_image"):
        orig = getattr(ECRBackend, name)

        def wrapped(self, repository_name, *args, _orig=orig, **kwargs):
            sync(self, repository_name)
            return _orig(self, repository_name, *args, **kwargs)

        setattr(ECRBackend, name, wrapped)

    orig_batch_delete = ECRBackend.batch_delete_image

    def batch_delete_image(self, repository_name, registry_id=None, image_ids=None):
        repo = self.repositories.get(repository_name)
        digests = []
        if repo is not None:
            for img in repo.images:
                for iid in image_ids or []:
                    if iid.get("imageDigest") == img.get_image_digest() or iid.get("imageTag") in (img.image_tags or []):
                        digests.append(img.get_image_digest())
        result = orig_batch_delete(self, repository_name=repository_name, registry_id=registry_id, image_ids=image_ids)
        for d in digests:
            registry.delete(repository_name, d)
        return result

    ECRBackend.batch_delete_image = batch_delete_image

    orig_delete_repo = ECRBackend.delete_repository

    def delete_repository(self, repository_name, registry_id=None, force=False):
        sync(self, repository_name)
        repo = orig_delete_repo(self, repository_name, registry_id, force)
        for img in repo.images:
            registry.delete(repository_name, img.get_image_digest())
        return repo

    ECRBackend.delete_repository = delete_repository
