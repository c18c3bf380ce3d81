"""kubeling: a Kubernetes-compatible cluster written in Python.

Each component lives in its own sub-package and exposes ``run(config)``;
``kubeling.cli`` binds command-line flags to those configs.
"""

__version__ = "0.1.0"
# The Kubernetes release whose API kubeling serves (schemas, discovery, /version).
KUBERNETES_VERSION = "v1.37.0"
