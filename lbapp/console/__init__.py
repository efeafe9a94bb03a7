"""The LB console: JSON API and web UI over the config in etcd (see api.py, ui.py)."""
