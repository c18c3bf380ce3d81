"""Volume plugins: one module per volume source, driven by :mod:`kubeling.kubelet.volumes`.

- :mod:`base` — the error type, plugin directory names, object lookups;
- :mod:`hostutil` — tmpfs mounts, mount discovery, fsGroup ownership;
- :mod:`emptydir`, :mod:`hostpath`, :mod:`persistentvolumeclaim` — directories
  (made, checked or resolved) the containers bind-mount;
- :mod:`configmap`, :mod:`secret`, :mod:`downwardapi`, :mod:`projected` —
  payloads (path → bytes + mode) the :class:`~kubeling.kubelet.atomicwriter.AtomicWriter`
  writes; :mod:`tokens` caches and renews projected ServiceAccount tokens.

Payload builders are pure over the objects they are given (plus the
lookups they await), so they are unit-tested without an apiserver.
"""
