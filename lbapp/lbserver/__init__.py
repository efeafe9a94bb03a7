"""The LB server: an asyncio (uvloop) + httptools HTTP/1.1 reverse proxy that follows its
load balancer's config in etcd (push via Redis, pull by polling).

Run: ``python -m lbapp.lbserver --settings lb1.yaml`` (schema: lbapp.lbserver.settings).

Modules: settings (the YAML file), http (header rules, framing), runtime (applied config
snapshot and shared state), proxy (client connections), upstream (backend pools and
connections), configsync (etcd + Redis), metrics, admin (/metrics, /-/ready ...), server
(listeners, sweeper, drain), main (command line).
"""
