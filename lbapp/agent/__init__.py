"""The agent on an LB node (a lab daemon, like a kubelet): runs the node's LB server and
announcer while the orchestrator wants the node ``active``, drains and stops them when it wants
it ``standby``. See ``lbapp.agent.agent`` (behaviour) and ``lbapp.agent.settings`` (the file)."""
