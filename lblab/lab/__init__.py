"""The lab lifecycle: ledger, namespaces, network, processes, templates, convergence, teardown.
``lblab.lab.instance.Lab`` is a running lab; ``lblab.lab.teardown`` removes one."""
