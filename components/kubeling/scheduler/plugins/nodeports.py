"""NodePorts: two pods cannot claim the same host port and protocol on overlapping host IPs."""

from __future__ import annotations

from kubeling.scheduler.framework import SKIP, Code, CycleState, NodeInfo, PodInfo, Status

NAME = "NodePorts"
REASON = "node(s) didn't have free ports for the requested pod ports"
ANY_IP = "0.0.0.0"


def ports_conflict(pod: PodInfo, node: NodeInfo) -> bool:
    for ip, protocol, port in pod.ports:
        used = node.used_ports.get((protocol, port))
        if used and (ip == ANY_IP or ANY_IP in used or ip in used):
            return True
    return False


class NodePorts:
    name = NAME

    def pre_filter(self, state: CycleState, pod: PodInfo) -> Status | None:
        return None if pod.ports else SKIP

    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        if ports_conflict(pod, node):
            return Status(Code.UNSCHEDULABLE, REASON, plugin=NAME)
        return None
