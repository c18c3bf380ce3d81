"""Cluster settings every host of an inventory shares (pyinfra group data for the group ``all``).

deploys/install.py reads these; a host or group file may override any of them.
Host data the deploys read per host: ``node_name`` (the Node's name, default the
inventory name) and ``node_ip`` (its InternalIP, default the inventory name or
``ssh_hostname`` when that is an IP address).
"""

# kubeling's version: the images (kubeling/kubeling, pause, busybox) and the wheel shipped to hosts.
# None: the version of the kubeling that runs the deploy.
kubeling_version = None
# Names the PKI directory (certs/<cluster_name>/) and the admin kubeconfig's cluster entry.
cluster_name = "kubeling"
service_cidr = "10.96.0.0/12"
# The pod network; node IPAM gives each node a /24 of it.
cluster_cidr = "10.244.0.0/16"
cluster_domain = "cluster.local"
# etcd (the etcd-server package on the hosts of group "etcd") or sqlite (one control plane only).
datastore = "etcd"
# Processes per apiserver (etcd only): more than 1 pays off on control planes with cores to spare.
apiserver_workers = 1
# Applied in this order from templates/addons once the API answers.
addons = [
    "kube-proxy",
    "hostgw",
    "dns",
    "metrics-server",
    "node-certificate-rotation",
    "ingress",
    "dashboard",
    "logging",
]
