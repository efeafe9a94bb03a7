"""The backend app: the service the load balancer balances.

Run: ``python -m lbapp.backend --name be1 --listen 0.0.0.0:8080 [--control-listen
10.2.0.111:8081]`` (``--listen`` may repeat).

Routes (every response carries ``X-Backend: <name>``):

- ``GET /``                 200 ``{"backend": "<name>"}``
- ``GET /health``           200 ``ok`` (or what the knobs say)
- ``GET /metrics``          Prometheus text: requests by route and status
- ``GET /delay?ms=N``       answers after N ms
- ``GET /status?code=N``    answers with status N
- ``GET /bytes?n=N``        N bytes, streamed (``&chunked=1``: chunked encoding)
- ``GET /headers``          the request headers and peer address as JSON
- ``POST|PUT /echo`` (or ``POST /``)  streams the request body back

Run-time knobs (health answer, added latency, fail ratio, every-N-th failure, hang; see
``lbapp.backend.knobs``) are set on the separate ``--control-listen`` address only
(``lbapp.backend.control``: ``GET|PATCH|DELETE /-/knobs``).
"""
