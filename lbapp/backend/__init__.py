"""The backend app: the service the load balancer balances.

Run: ``python -m lbapp.backend --name be1 --listen 0.0.0.0:8080`` (``--listen`` may repeat).

Routes (every response carries ``X-Backend: <name>``):

- ``GET /``                 200 ``{"backend": "<name>"}``
- ``GET /health``           200 ``ok`` (503 ``fail`` after ``POST /-/health?ok=0``)
- ``GET /metrics``          Prometheus text: requests by route and status
- ``GET /delay?ms=N``       answers after N ms
- ``GET /status?code=N``    answers with status N
- ``GET /bytes?n=N``        N bytes, streamed (``&chunked=1``: chunked encoding)
- ``GET /headers``          the request headers and peer address as JSON
- ``POST|PUT /echo`` (or ``POST /``)  streams the request body back
- ``POST /-/health?ok=0|1`` flips what ``/health`` answers (failure tests)
"""
