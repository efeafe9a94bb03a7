"""The orchestrator cluster: leader election, sharded active health checks, autoscaling.

Run one member per orchestrator node: ``python -m lbapp.orchestrator --settings FILE``
(``lbapp.orchestrator.settings``). Every member registers under a leased key, checks the
backends in the shard the leader wrote for it and writes each health change (fenced) to
``/lblab/lb/<id>/health/<backend>``; the leader, elected through etcd's election API, assigns
the targets by rendezvous hashing and scales the LB tier from Prometheus. Keys:
``lbapp.keys``; values: ``lbapp.orchestrator.values``; what a member records for scenarios to
judge: ``lbapp.orchestrator.history``.

Modules: ``main`` (process, session lifecycle), ``member``, ``leader``, ``scaler``,
``checker`` + ``probe`` + ``health`` (checks and rise/fall), ``shard`` (rendezvous),
``autoscale`` (decisions, pure), ``promquery``, ``publish`` (Redis), ``metrics``.
"""
