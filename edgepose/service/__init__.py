"""The daemon (`edgepose serve`): process life and signals, the source runners, the shared backend,
per-source analytics, HTTP (health, metrics, live frames, events), sd_notify and journald logging.

Nothing here imports ``edgepose.commands``: the CLI calls the daemon, never the other way round.
"""
from .daemon import Service

__all__ = ["Service"]
