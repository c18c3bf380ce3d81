"""Cluster-level logging: ``kubeling log-collector`` (a DaemonSet) and ``kubeling log-store`` (a Deployment).

What runs where:

- On every node the collector (``collector.py``) finds container logs by the
  kubelet's ``/var/log/containers/<pod>_<namespace>_<container>-<id>.log``
  links (``records.py`` parses names and Docker's json-file records), tails
  each file by its identity (``files.py``: container id, inode and a hash of
  its first record, so a rotated, truncated or recreated file is never taken
  for another), adds pod metadata from an informer on the node's pods
  (``metadata.py``: kept after the pod is deleted) and ships batches
  (``shipper.py``) to the store through the API server.  Offsets move to the
  positions file (``positions.py``) only after the store acknowledged a
  batch, so a restarted collector resumes where the store's data ends.
- The store (``store.py``: SQLite; ``storeserver.py``: HTTPS) serves the
  aggregated API ``logging.kubeling.io/v1alpha1`` (``api.py``): ``POST
  .../logs`` takes a batch and ignores line ids it already has (so a batch
  sent twice lands once); ``GET [.../namespaces/NS]/logs`` queries.
  Callers are authenticated and authorized as metrics-server does
  (front-proxy headers from the aggregator, TokenReview, SubjectAccessReview).
- ``kubeling logs query`` (``query.py``) asks the API server, which proxies to
  the store with the user's identity: RBAC on ``logs.logging.kubeling.io``
  (aggregated into the view/edit/admin roles) decides, per namespace.
"""
