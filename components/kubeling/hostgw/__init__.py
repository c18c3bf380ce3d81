"""``kubeling hostgw``: pod networks of all nodes joined the host-gw way.

Every node routes each other node's podCIDR via that node's InternalIP (the
nodes share one L2 network), and lets pod traffic through FORWARD (Docker sets
its policy to DROP). Runs as the ``hostgw`` addon's DaemonSet on every node.
"""
