"""Streaming protocols of the kubelet server.

- :mod:`channels` and :mod:`remotecommand`: exec/attach on a WebSocket (``v5``/``v4.channel.k8s.io``);
- :mod:`spdy`: SPDY/3.1 frames and header compression;
- :mod:`spdyexec`: exec/attach on SPDY streams; :mod:`portforward`: port-forward on SPDY streams;
- :mod:`upgrade`: taking a connection over after a ``101`` (also the apiserver's splicing proxy).
"""
