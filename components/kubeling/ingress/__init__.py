"""``kubeling ingress``: an Ingress controller that is itself the HTTP(S) reverse proxy.

What runs where (one asyncio process per node, a DaemonSet on hostNetwork):

- ``controller.py`` keeps informers on Ingresses, IngressClasses, Services,
  EndpointSlices and TLS Secrets.  Any event marks the world changed; one
  task rebuilds a :class:`~kubeling.ingress.snapshot.Snapshot` (the routing
  table of ``routing.py`` for the Ingresses ``classes.py`` says are ours,
  every backend resolved to ready endpoints by ``backends.py``, and TLS
  contexts from ``tls.py``) and swaps it in with one assignment.  Requests
  in flight keep the snapshot they started with, so a reload drops nothing.
- ``proxy.py`` is the aiohttp server on ports 80 and 443: route by host and
  path, pick an endpoint (round robin), stream the request and the answer,
  relay WebSocket upgrades; 404 when no rule matches, 503 when the backend
  has no ready endpoint.  ``metrics.py`` counts requests under
  ingress-nginx's metric names; ``endpoints.py`` serves them with
  ``/healthz`` on 10254.
- ``status.py`` writes ``status.loadBalancer.ingress`` of our Ingresses
  (the leader of the DaemonSet's pods only, by a Lease).
"""
