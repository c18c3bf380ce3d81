"""kube-proxy in iptables mode: ``kubeling proxy``.

Module map, from the API to the kernel:

- ``servicemodel`` — Services and EndpointSlices → service ports and endpoints (pure);
- ``chains`` — upstream's chain names (hashed per service port and endpoint);
- ``rules`` — the whole ``iptables-restore`` text of one sync (pure);
- ``iptables`` — ``iptables-save`` / ``iptables-restore`` and ``--cleanup``;
- ``conntrack`` — flushing stale UDP flows after endpoints change;
- ``proxier`` — event handlers, change tracking, the rate-limited sync runner;
- ``healthz`` / ``metrics`` — ``/healthz`` ``/livez`` (10256) and ``/metrics`` (10249);
- ``config`` / ``cli`` / ``server`` — flags and KubeProxyConfiguration, the process.

The proxy programs the network namespace it runs in, so the same binary
serves a real host and a lab node's namespace alike.
"""
