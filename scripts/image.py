#!/usr/bin/env python3
"""image.py BINARY OUT.tar NAME:TAG — a one-layer image of a static binary
on scratch, as a docker-archive tarball (layer tar, config JSON,
manifest.json) that `docker load` and `ctr -n k8s.io images import` read.
No registry and no container tool: what deploy/image/Containerfile
describes, built directly."""
import hashlib
import io
import json
import os
import sys
import tarfile


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, out, ref = sys.argv[1:]
    name = "/" + os.path.basename(binary)
    # The layer: the binary alone, owned by root, fixed time, so that the
    # same binary gives the same image.
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w", format=tarfile.PAX_FORMAT) as t:
        info = t.gettarinfo(binary, arcname=name.lstrip("/"))
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755
        with open(binary, "rb") as f:
            t.addfile(info, f)
    layer_bytes = layer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = {
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Entrypoint": [name], "Env": ["PATH=/"], "Labels": {"org.opencontainers.image.title": ref.rsplit(":", 1)[0].rsplit("/", 1)[-1]}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "scripts/image.py " + name}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id[len("sha256:"):] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]
    with tarfile.open(out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for arc, data in ((layer_name, layer_bytes), (config_name, config_bytes),
                          ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(arc)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    print(f"image: {out}: {ref}, layer {diff_id[:19]}..., {len(layer_bytes) >> 20} MiB")


if __name__ == "__main__":
    main()
