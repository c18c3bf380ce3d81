"""kube-controller-manager's controllers, on the shared client machinery.

- :mod:`base` — :class:`~base.Controller` (handlers enqueue keys, workers
  reconcile them, errors requeue with backoff) and the context it is built in.
- :mod:`informers` — the shared informer factory: one watch per resource.
- :mod:`ownership`, :mod:`expectations`, :mod:`podutil` — controller refs and
  adoption, create/delete expectations, pod facts.
- :mod:`credentials` — one ServiceAccount token per controller.
- :mod:`manager` — which controllers exist, ``--controllers``, leader election.
- one module per controller (``replicaset``, ``deployment``, ``job``, ...).
"""
