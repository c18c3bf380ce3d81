"""The namespace controller's conditions: upstream's reasons and messages, and transition times."""

from __future__ import annotations

from kubeling.controllers.discovery import APIResource
from kubeling.controllers.namespace import Outcome, conditions, group_resource, merge_conditions


def test_all_good_is_five_false_conditions() -> None:
    found = conditions(Outcome())
    assert {kind: status for kind, (status, _, _) in found.items()} == {
        "NamespaceDeletionDiscoveryFailure": "False",
        "NamespaceDeletionGroupVersionParsingFailure": "False",
        "NamespaceDeletionContentFailure": "False",
        "NamespaceContentRemaining": "False",
        "NamespaceFinalizersRemaining": "False",
    }
    assert found["NamespaceContentRemaining"][1:] == ("ContentRemoved", "All content successfully removed")
    assert Outcome().done


def test_problems_are_reported_in_upstreams_words() -> None:
    outcome = Outcome(
        discovery_failures={"metrics.k8s.io/v1beta1": "unavailable"},
        delete_failures=["widgets.example.com: forbidden"],
        remaining={"pods": 2, "deployments.apps": 1},
        finalizers={"example.com/hold": 1},
    )
    found = conditions(outcome)
    assert found["NamespaceDeletionDiscoveryFailure"] == (
        "True",
        "DiscoveryFailed",
        "Discovery failed for some groups, 1 failing: metrics.k8s.io/v1beta1: unavailable",
    )
    assert found["NamespaceDeletionContentFailure"][2] == (
        "Failed to delete all resource types, 1 remaining: widgets.example.com: forbidden"
    )
    assert found["NamespaceContentRemaining"][2] == (
        "Some resources are remaining: "
        "deployments.apps has 1 resource instances, pods has 2 resource instances"
    )
    assert found["NamespaceFinalizersRemaining"][1] == "SomeFinalizersRemain"
    assert not outcome.done


def test_transition_time_moves_only_when_the_status_flips() -> None:
    first = merge_conditions([], conditions(Outcome(remaining={"pods": 1})), "t1")
    again = merge_conditions(first, conditions(Outcome(remaining={"pods": 3})), "t2")
    by_type = {c["type"]: c for c in again}
    assert by_type["NamespaceContentRemaining"]["lastTransitionTime"] == "t1"
    assert "3 resource instances" in by_type["NamespaceContentRemaining"]["message"]
    cleared = {c["type"]: c for c in merge_conditions(again, conditions(Outcome()), "t3")}
    assert cleared["NamespaceContentRemaining"]["lastTransitionTime"] == "t3"
    assert cleared["NamespaceDeletionDiscoveryFailure"]["lastTransitionTime"] == "t1"


def test_group_resource_names() -> None:
    assert group_resource(APIResource("", "v1", "pods", "Pod", True)) == "pods"
    assert group_resource(APIResource("apps", "v1", "deployments", "Deployment", True)) == "deployments.apps"
