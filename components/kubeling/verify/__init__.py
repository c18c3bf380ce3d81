"""``kubeling verify``: is an installed cluster healthy, host by host and as a whole?

What runs where:

- ``targets`` reads a pyinfra inventory (pyinfra's own loader, so group data
  and the ``kube_control_plane`` / ``etcd`` / ``kube_node`` groups mean what
  they mean to the deploy) into :class:`~kubeling.verify.targets.Target`\\ s and
  opens a testinfra host per target: ``ssh://`` with the inventory's user, port
  and key (one multiplexed SSH connection per host), ``local://`` for ``@local``.
- ``hostchecks`` holds one small function per check, each taking a testinfra
  host and returning :class:`~kubeling.verify.report.CheckResult`\\ s; what a
  host should have comes from ``layout`` (kubeadm's paths, ports and units by
  role).  Parsing of command output is pure and lives in ``certs``, ``routes``
  and ``parse`` so it is unit-tested without hosts.
- ``cluster`` checks through the API with the admin kubeconfig written next to
  the inventory: nodes Ready, kube-system pods Running, and two throwaway pods
  in a namespace of their own (removed afterwards) that resolve
  ``kubernetes.default`` and reach a Service's pod.
- ``run`` orders it: the API first (the nodes' podCIDRs are what the route
  check expects), then every host's checks in parallel threads, then the
  cluster's workload checks; ``report`` prints one line per check and the
  exit status is 1 when any failed.
"""
