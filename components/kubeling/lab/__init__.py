"""Lab clusters: several kubeling nodes on one machine (network-namespace nodes; systemd-container nodes)."""
