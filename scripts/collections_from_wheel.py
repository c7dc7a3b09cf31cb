"""Install the collections pinned in requirements.yml from the `ansible` PyPI wheel.

Galaxy is not always reachable; the `ansible` package bundles the same
collections. Fails if the bundled version differs from the pin.
Usage: collections_from_wheel.py WHEEL REQUIREMENTS_YML DEST(ansible_collections dir)
"""

import json
import shutil
import sys
import zipfile
from pathlib import Path

import yaml


def main(wheel, requirements, dest):
    pins = {c["name"]: str(c["version"]) for c in yaml.safe_load(Path(requirements).read_text())["collections"]}
    dest = Path(dest)
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        for fqcn, version in pins.items():
            ns, name = fqcn.split(".")
            prefix = "ansible_collections/{0}/{1}/".format(ns, name)
            manifest = json.loads(zf.read(prefix + "MANIFEST.json"))
            found = manifest["collection_info"]["version"]
            if found != version:
                sys.exit("{0}: wheel has {1}, requirements.yml pins {2}".format(fqcn, found, version))
            target = dest / ns / name
            if target.exists():
                shutil.rmtree(target)
            for n in names:
                if n.startswith(prefix) and not n.endswith("/"):
                    out = dest / n[len("ansible_collections/"):]
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(zf.read(n))
            print("  {0} {1}".format(fqcn, version))


if __name__ == "__main__":
    main(*sys.argv[1:4])
