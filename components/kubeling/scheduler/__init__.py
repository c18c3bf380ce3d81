"""kube-scheduler for kubeling.

- :mod:`resources` — pod requests and node allocatable as integers;
- :mod:`framework` — Status, PodInfo, NodeInfo, CycleState, plugin protocols;
- :mod:`matching` — re-exports :mod:`kubeling.api.scheduling` (node selector
  terms, taints and tolerations, shared with the controllers);
- :mod:`plugins` — the default profile's filter and score plugins;
- :mod:`algorithm` — one decision: prefilter, filter (adaptive sampling,
  round-robin), score, select; FitError messages;
- :mod:`preemption` — DefaultPreemption's victim selection;
- :mod:`cache` — NodeInfos with assumed pods; :mod:`queue` — activeQ,
  backoffQ, unschedulable pods;
- :mod:`scheduler` — informers, the scheduling loop, binding, failures;
- :mod:`app` / :mod:`cli` — config, leader election, ``kubeling scheduler``.
"""
