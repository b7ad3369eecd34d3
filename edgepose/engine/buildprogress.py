"""Progress of a TensorRT engine build (``edgepose.progress``: a tqdm bar on a terminal, log lines elsewhere).

TensorRT 10+ reports its optimizer's phases through ``trt.IProgressMonitor`` (``config.progress_monitor``):
each top-level phase gets a bar of its steps, nested phases a debug line. TensorRT 8.5/8.6 report nothing
while ``build_serialized_network`` runs (minutes on a Jetson): there a ticker shows the elapsed time, so a
build is never silent. Errors inside the callbacks are logged and swallowed (TensorRT would swallow them
anyway), and ``step_complete`` always answers True: False would cancel the build.
"""
import contextlib
import logging
import threading

from .. import progress as prog

log = logging.getLogger(__name__)


def _phase_start(self, phase_name, parent_phase, num_steps):
    try:
        if parent_phase:
            log.debug("TensorRT: %s (in %s): %d steps", phase_name, parent_phase, num_steps)
        else:
            self.bars[phase_name] = prog.progress(int(num_steps), "TensorRT: %s" % phase_name, unit="step", logger=log)
    except Exception as e:          # a progress display must never break a build
        log.debug("build progress: %s", e)


def _step_complete(self, phase_name, step):
    try:
        bar = self.bars.get(phase_name)
        if bar is not None:
            bar.update(max(0, int(step) + 1 - int(bar.n)))
    except Exception as e:
        log.debug("build progress: %s", e)
    return True


def _phase_finish(self, phase_name):
    try:
        bar = self.bars.pop(phase_name, None)
        if bar is not None:
            bar.close()
    except Exception as e:
        log.debug("build progress: %s", e)


def make_monitor(trt):
    """A ``trt.IProgressMonitor`` showing each top-level phase as a progress bar (TensorRT 10+)."""

    class PhaseBars(trt.IProgressMonitor):
        phase_start, step_complete, phase_finish = _phase_start, _step_complete, _phase_finish

        def __init__(self):
            trt.IProgressMonitor.__init__(self)
            self.bars = {}

        def close(self):
            for name in list(self.bars):
                self.phase_finish(name)

    return PhaseBars()


@contextlib.contextmanager
def build_progress(trt, config, every_s=1.0):
    """Around ``build_serialized_network``: TensorRT's phases as bars where it reports them (sets
    ``config.progress_monitor``), else the elapsed time ticking."""
    if hasattr(trt, "IProgressMonitor"):
        monitor = make_monitor(trt)
        config.progress_monitor = monitor
        try:
            yield monitor
        finally:
            monitor.close()
        return
    bar = prog.progress(None, "building the engine (TensorRT %s reports no steps: seconds elapsed)"
                   % getattr(trt, "__version__", "?"), unit="s", logger=log)
    stop = threading.Event()

    def tick():
        while not stop.wait(every_s):
            bar.update(every_s)

    ticker = threading.Thread(target=tick, name="edgepose-build-progress", daemon=True)
    ticker.start()
    try:
        yield None
    finally:
        stop.set()
        ticker.join()
        bar.close()
