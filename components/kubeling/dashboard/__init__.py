"""``kubeling dashboard``: the cluster's web UI, served by an addon in kube-system.

What runs where:

- ``server.py`` — the aiohttp app: login gate, routes, jinja2 templates
  (``templates/``) and the static script and stylesheet (``static/``; no CDN);
- ``userapi.py`` — every read, action and stream goes to the apiserver *as the
  user*, with the bearer token they logged in with (``sessions.py`` keeps it
  server-side behind an HttpOnly, SameSite=Strict cookie), so RBAC is the
  apiserver's and its refusals are shown as it words them;
- ``pages.py`` (overview, lists from the apiserver's own Tables, detail
  pages), ``actions.py`` (scale, rollout restart, delete pod) and ``live.py``
  (server-sent events fed by watches and followed logs, made as the user);
- ``history.py`` samples metrics.k8s.io every 15 s with the dashboard's own
  ServiceAccount (metrics read rights only) and ``plots.py`` draws the last
  minutes as inline SVG, shown to users whose own SelfSubjectAccessReview
  allows them to read those metrics;
- ``render.py`` and ``kinds.py`` are the pure helpers the pages share.

Links and redirects are relative, so the pages work at ``/`` (port-forward)
and under the apiserver's service-proxy prefix alike.
"""
