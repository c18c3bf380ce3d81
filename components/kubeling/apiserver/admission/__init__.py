"""Admission plugins of the apiserver: upstream's built-in admission chain.

Each plugin is one module with one class; :mod:`.interface` holds what they
share (request attributes, the cache lister protocol, the plugin
protocols) and :mod:`.chain` puts them in upstream's order.  Plugins are
pure logic over the objects a :class:`~.interface.Lister` returns; the only
write they cause is ResourceQuota's charge, through a callback the
apiserver provides.
"""

from kubeling.apiserver.admission.chain import AdmissionChain, default_chain
from kubeling.apiserver.admission.interface import Attributes, Lister, MutatingPlugin, ValidatingPlugin

__all__ = ["AdmissionChain", "Attributes", "Lister", "MutatingPlugin", "ValidatingPlugin", "default_chain"]
