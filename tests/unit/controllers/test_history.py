"""Template hashes and ControllerRevision helpers."""

from __future__ import annotations

from typing import Any

from kubeling.controllers import history

Obj = dict[str, Any]


def make_owner(image: str = "busybox:1.36") -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "ns", "uid": "u-1"},
        "spec": {
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            }
        },
    }


def test_fnv32a_matches_the_reference_vectors() -> None:
    assert history.fnv32a(b"") == 0x811C9DC5
    assert history.fnv32a(b"a") == 0xE40C292C
    assert history.fnv32a(b"foobar") == 0xBF9CF968


def test_template_hash_is_stable_safe_and_changes_with_collisions() -> None:
    template = make_owner()["spec"]["template"]
    first = history.template_hash(template)
    assert first == history.template_hash({**template})  # deterministic
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert history.template_hash(template, 1) != history.template_hash(template, 0) != first
    # Empty maps and key order do not change what a template is.
    reordered = {"spec": template["spec"], "metadata": {**template["metadata"], "annotations": {}}}
    assert history.template_hash(reordered) == first
    assert history.template_hash(make_owner("busybox:1.37")["spec"]["template"]) != first


def test_equal_ignore_hash() -> None:
    template = make_owner()["spec"]["template"]
    labelled = {**template, "metadata": {"labels": {"app": "web", "pod-template-hash": "abc"}}}
    assert history.equal_ignore_hash(labelled, template)
    assert not history.equal_ignore_hash(make_owner("other")["spec"]["template"], template)


def test_new_revision_records_a_replacing_patch() -> None:
    owner = make_owner()
    revision = history.new_revision(
        owner, api_version="apps/v1", kind="StatefulSet", revision=3, collision_count=0
    )
    hash_ = revision["metadata"]["labels"]["controller-revision-hash"]
    assert revision["metadata"]["name"] == f"web-{hash_}"
    assert revision["metadata"]["labels"]["app"] == "web"
    assert revision["revision"] == 3
    assert revision["data"]["spec"]["template"]["$patch"] == "replace"
    assert revision["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    same = history.new_revision(
        owner, api_version="apps/v1", kind="StatefulSet", revision=9, collision_count=0
    )
    assert history.equal_revision(revision, same)
    changed = history.new_revision(
        make_owner("x"), api_version="apps/v1", kind="StatefulSet", revision=4, collision_count=0
    )
    assert not history.equal_revision(revision, changed)
    assert history.apply_revision(make_owner("x"), revision)["spec"]["template"] == owner["spec"]["template"]


def test_revisions_to_prune_keep_the_limit_and_live_ones() -> None:
    revisions = [
        {"metadata": {"name": f"r{i}", "creationTimestamp": "2024-01-01T00:00:00Z"}, "revision": i}
        for i in range(1, 6)
    ]
    assert [r["metadata"]["name"] for r in history.revisions_to_prune(revisions, {"r5"}, 2)] == ["r1", "r2"]
    assert [r["metadata"]["name"] for r in history.revisions_to_prune(revisions, {"r1"}, 2)] == ["r2", "r3"]
    assert history.revisions_to_prune(revisions, set(), None) == []
    assert history.next_revision(revisions) == 6
