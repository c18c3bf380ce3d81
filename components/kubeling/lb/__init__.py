"""``kubeling lb``: the node-local TCP load balancer in front of every control plane's apiserver.

With several control planes every node runs one (a systemd unit, kubespray's
nginx-proxy idea) on ``127.0.0.1:6444``; the kubelet and kube-proxy of the
node talk to it, and it forwards each connection, unchanged (TLS passes
through, so the apiserver still sees the client certificate), to a healthy
apiserver.  ``backends.py`` holds the pure bookkeeping (which backend is
healthy, which is next), ``health.py`` the probe, ``proxy.py`` the sockets.
"""
