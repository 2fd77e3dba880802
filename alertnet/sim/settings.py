"""The simulator's own settings: where it listens and how long it waits before each webhook."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SimSettings:
    """Host and port the simulators listen on, and the delay before each callback / event is sent."""

    host: str = "127.0.0.1"
    port: int = 8090
    callback_delay: float = 0.05

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"
