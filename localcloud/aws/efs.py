"""EFS: the legacy DescribeTags/CreateTags/DeleteTags routes (community.aws.efs calls DescribeTags); a
file system's data (``STATE/efs/<region>/<fs-id>/``, what the EFS CSI node plugin of real nodes mounts:
localcloud/nodes/efs_csi.py) goes with DeleteFileSystem."""

from __future__ import annotations

import json
import shutil


def patch_efs_tags() -> None:
    from moto.core.responses import BaseResponse
    from moto.efs.responses import EFSResponse

    def _fs_id(self) -> str:
        # /2015-02-01/tags/<id>/ , /2015-02-01/create-tags/<id>, /2015-02-01/delete-tags/<id>
        return [p for p in self.path.split("/") if p][2]

    def describe_tags(self):
        tags = self.efs_backend.list_tags_for_resource(_fs_id(self))
        return 200, {}, json.dumps({"Tags": tags})

    def create_tags(self):
        tags = self._get_param("Tags") or []
        self.efs_backend.tag_resource(_fs_id(self), {t["Key"]: t["Value"] for t in tags})
        return 204, {}, ""

    def delete_tags(self):
        self.efs_backend.untag_resource(_fs_id(self), self._get_param("TagKeys"))
        return 204, {}, ""

    from moto.efs import urls

    urls.url_paths.update({
        "/2015-02-01/tags/<file_system_id>/": urls.response.dispatch,
        "/2015-02-01/create-tags/<file_system_id>/": urls.response.dispatch,
        "/2015-02-01/delete-tags/<file_system_id>/": urls.response.dispatch,
    })
    EFSResponse.describe_tags = describe_tags
    EFSResponse.create_tags = create_tags
    EFSResponse.delete_tags = delete_tags
    assert issubclass(EFSResponse, BaseResponse)



def patch_efs_data(cfg) -> None:
    """DeleteFileSystem removes the file system's directory, as EFS deletes its data (moto refuses it while
    mount targets exist: FileSystemInUse, as EFS does, so no node mounts it any more)."""
    from moto.efs.models import EFSBackend

    from ..nodes.efs_csi import file_system_dir

    orig = EFSBackend.delete_file_system

    def delete_file_system(self, file_system_id: str) -> None:
        orig(self, file_system_id)
        shutil.rmtree(file_system_dir(cfg.state_dir, self.region_name, file_system_id), ignore_errors=True)

    EFSBackend.delete_file_system = delete_file_system
