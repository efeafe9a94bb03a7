"""The LB server: an asyncio (uvloop) + httptools HTTP/1.1 reverse proxy that follows its
load balancer's config in etcd (push via Redis, pull by polling).

Run: ``python -m lbapp.lbserver --settings lb1.yaml`` (schema: lbapp.lbserver.settings).

Modules: settings (the YAML file), http (header classes, canned responses), requestrules
(what a request may not be), stats (plain counters), contracts (what the data plane's parts
use of each other), runtime (applied config snapshot and shared state), proxy and
requesthead (client connections), slots (connection slots, client timers), upstream (backend
pools and connections), configsync (etcd + Redis), metrics, admin (/metrics, /-/ready ...),
server (listeners, sweeper, drain), workers (several processes), main (command line).
Imports go one way (a unit test checks): proxy -> runtime -> upstream -> http, stats.
"""
