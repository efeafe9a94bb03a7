"""The announcer on an LB node: enables the BIRD speaker's `vip` protocol while the local LB
server is ready, disables it when the LB fails or drains."""
from __future__ import annotations

import json
from pathlib import Path

from lblab.daemons.base import PythonDaemon
from lblab.daemons.bird import BirdSpeaker
from lblab.daemons.lbserver import LbServer


class Announcer(PythonDaemon):
    kind = "announcer"
    module = "lbapp.announcer"
    preload = "lbapp.announcer"
    wave = 1

    @property
    def state_path(self) -> Path:
        return self.path(".state")

    def argv(self) -> list[str]:
        settings = self.ctx.topo.announce
        return [self.python(), "-m", self.module,
                "--ready-url", f"{LbServer(self.ctx).admin_url}/-/ready",
                "--bird-socket", str(BirdSpeaker(self.ctx).socket_path), "--protocol", BirdSpeaker.VIP_PROTOCOL,
                "--interval-ms", str(settings.interval_ms), "--timeout-ms", str(settings.timeout_ms),
                "--rise", str(settings.rise), "--fall", str(settings.fall),
                "--state-file", str(self.state_path)]

    def prepare(self) -> None:
        self.state_path.unlink(missing_ok=True)

    def check_ready(self) -> str | None:
        return None if self.state_path.is_file() else "no state file yet"

    def announcing(self) -> bool | None:
        try:
            return bool(json.loads(self.state_path.read_text())["announcing"])
        except (FileNotFoundError, ValueError, KeyError):
            return None
