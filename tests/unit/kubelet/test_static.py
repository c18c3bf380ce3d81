"""Static pod identity: name, uid from the manifest + node, annotations; mirror pods."""

from __future__ import annotations

import json

from kubeling.kubelet.static import HASH, MIRROR, SOURCE, mirror_pod, read_manifests, static_pod

MANIFEST = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web"},
    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
}


def test_identity() -> None:
    pod = static_pod(MANIFEST, "node-a")
    meta = pod["metadata"]
    assert (meta["name"], meta["namespace"], pod["spec"]["nodeName"]) == ("web-node-a", "default", "node-a")
    assert meta["annotations"][SOURCE] == "file" and meta["annotations"][HASH] == meta["uid"]
    assert static_pod(MANIFEST, "node-a")["metadata"]["uid"] == meta["uid"]  # stable
    assert static_pod(MANIFEST, "node-b")["metadata"]["uid"] != meta["uid"]
    edited = json.loads(json.dumps(MANIFEST))
    edited["spec"]["containers"][0]["image"] = "busybox:2"
    assert static_pod(edited, "node-a")["metadata"]["uid"] != meta["uid"]
    assert pod["spec"]["restartPolicy"] == "Always"  # API defaults applied


def test_read_manifests_skips_bad_and_hidden_files(tmp_path) -> None:
    (tmp_path / "web.yaml").write_text(json.dumps(MANIFEST))
    (tmp_path / ".hidden.yaml").write_text(json.dumps(MANIFEST))
    (tmp_path / "broken.yaml").write_text("kind: Deployment\nmetadata: {name: x}\n")
    pods = read_manifests(str(tmp_path), "node-a")
    assert [p["metadata"]["name"] for p in pods.values()] == ["web-node-a"]
    assert read_manifests(str(tmp_path / "absent"), "node-a") == {}


def test_mirror_pod() -> None:
    pod = static_pod(MANIFEST, "node-a")
    mirror = mirror_pod(pod, "node-uid")
    assert mirror["metadata"]["annotations"][MIRROR] == pod["metadata"]["uid"]
    assert "uid" not in mirror["metadata"] and "status" not in mirror
    assert mirror["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "node-uid", "controller": True}
    ]
