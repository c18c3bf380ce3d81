"""kube-apiserver: the Kubernetes REST API over a datastore.

Request path: aiohttp handler → RequestInfo (what is asked) → authentication
→ authorization → the generic :class:`~kubeling.apiserver.store.ResourceStore`
(admission, defaulting, validation, storage) → a response encoded as the
client negotiated (JSON, YAML, Table, PartialObjectMetadata).  Reads and
watches are served from a per-resource watch cache fed by one storage watch.
"""
