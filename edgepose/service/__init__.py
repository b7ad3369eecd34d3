"""The daemon (`edgepose serve`), one idea a module:

- ``daemon``: ``Service``, process life and signals (start, SIGHUP reload, SIGTERM drain and stop)
- ``runner``: one source's pipeline on a thread, restarted with backoff
- ``backend``: the shared backend (one inference thread, batching) and the reloadable decoder
- ``analytics``: per-source analytics, reconfigured between frames
- ``http_api``: the HTTP server; ``live``: latest frames and recent events; ``metrics``: Prometheus;
  ``auth``: loopback rule and token
- ``sdnotify``: systemd notify and watchdog; ``logsetup``: journald-friendly, rate-limited logging

Nothing here imports ``edgepose.commands``: the CLI calls the daemon, never the other way round.
"""
__all__ = ["Service"]


def __getattr__(name):  # lazy: `replay` uses logsetup without loading the whole daemon
    if name == "Service":
        from .daemon import Service

        return Service
    raise AttributeError(name)
