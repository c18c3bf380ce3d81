"""The asyncio client every kubeling component uses to talk to the apiserver.

- :mod:`kubeconfig` — where the server is and who we are (:class:`ClientConfig`).
- :mod:`rest` — :class:`RESTClient`: verbs, watch streams, rate limits, retries
  (:mod:`flowcontrol` holds its token bucket and backoff).
- :mod:`paths` — REST URLs from a resource's group/version/plural.
- :mod:`store` / :mod:`informer` — list+watch caches with indexers and handlers.
- :mod:`workqueue` / :mod:`ratelimit` — the de-duplicating, rate-limited queue
  controllers work from.
- :mod:`leaderelection` — Lease-based leader election.
- :mod:`events` — the event recorder (aggregation, spam filter).
- :mod:`clock` — real and fake clocks, injected so timing logic is testable.
"""
