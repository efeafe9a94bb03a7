"""Where things are: the source tree (topologies, templates, scenarios, built binaries) and the
run root under which every lab keeps its state, configs and logs."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TOPO_DIR = REPO_ROOT / "topo"
TEMPLATE_DIR = REPO_ROOT / "templates"
SCENARIO_DIR = REPO_ROOT / "scenarios"
RESULTS_DIR = REPO_ROOT / "results"
BUILD_BIN = REPO_ROOT / "build" / "bin"
COREDNS_BIN = BUILD_BIN / "coredns"

RUN_ROOT = Path(os.environ.get("LBLAB_RUN_DIR", "/run/lblab"))
