"""lblab: the lab engine. Sub-packages by job:

- ``topology``: the topology file model and its validation;
- ``kinds``: node kinds (one module per role, one registry);
- ``daemons``: one class per daemon (template, argv, readiness);
- ``lab``: the lab lifecycle (ledger, namespaces, network, processes, convergence);
- ``faults``: one class per fault (parameters, apply, undo; one registry);
- ``cli``: the ``lblab`` command, one module per sub-command.
"""
