"""``kubeling metrics-server``: the resource metrics API (``metrics.k8s.io/v1beta1``).

What runs where, as upstream's metrics-server:

- ``scraper.py`` asks every Node's kubelet for ``/metrics/resource`` every
  ``--metric-resolution``, all nodes at once, each with a timeout, with the
  server's own credentials; ``decode.py`` turns the Prometheus text into a
  :class:`~kubeling.metrics.samples.MetricsBatch`;
- ``storage.py`` keeps the last two points per node and container and turns
  them into usage (CPU rate, memory working set, timestamp, window);
  ``quantity.py`` writes the numbers as upstream does;
- ``api.py`` serves NodeMetrics and PodMetrics (discovery, get, list with
  label and field selectors) for the objects the node and pod informers know;
- ``auth.py`` authenticates callers as an extension API server (front-proxy
  request headers, client certificates, TokenReview) from the
  ``kube-system/extension-apiserver-authentication`` ConfigMap or flags, and
  authorizes them with SubjectAccessReviews;
- ``selfmetrics.py`` is its own ``/metrics``;
- ``server.py`` wires it into one process (``run(config)``) serving HTTPS
  with ``/livez``, ``/readyz`` (ready after the first scrape) and ``/healthz``.
"""
