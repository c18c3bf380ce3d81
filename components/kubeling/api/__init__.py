"""Pure helpers for Kubernetes API objects (plain JSON dicts).

Nothing here does I/O: errors as metav1.Status, the resource registry,
schemas, selectors, patching, validation/defaulting and Table printers are
shared by the apiserver, the controllers and the kubelet.
"""
