"""The live view of a search on the terminal: one line per finished trial, a heartbeat between."""
from __future__ import annotations

import math
import time
from typing import Any

from tune_gae.search.settings import Echo


def trial_name(trial: Any) -> str:
    """Short trial names: ``trial_<id>`` (Ray's default embeds the whole config)."""
    return f"trial_{trial.trial_id}"


# --------------------------------------------------------------------------- progress


class ProgressView:
    """A compact live view: one line when a trial ends, a heartbeat while they run."""

    def __init__(self, echo: Echo, metric: str, num_samples: int, every_s: float = 10.0) -> None:
        from ray.tune import Callback

        view = self

        class _Callback(Callback):
            # Pickled into tuner.pkl with the run config, so a resumed search restores it too.
            def setup(self, **info):  # noqa: ANN001, ANN003
                view.restart()

            def on_trial_result(self, iteration, trials, trial, result, **info):  # noqa: ANN001
                view.on_result(trial, result, trials)

            def on_trial_complete(self, iteration, trials, trial, **info):  # noqa: ANN001
                view.on_end(trial, trials, "done")

            def on_trial_error(self, iteration, trials, trial, **info):  # noqa: ANN001
                view.on_end(trial, trials, "error")

        self.callback = _Callback()
        self.echo = echo
        self.metric = f"best_{metric}"
        self.label = metric
        self.num_samples = num_samples
        self.every_s = every_s
        self.started = time.monotonic()
        self.last_print = self.started
        self.best: tuple[float, str] = (-math.inf, "")
        self.last: dict[str, dict[str, Any]] = {}  # the trials running now: their last result
        self.saved_read = False  # the trials that ended before a resume: their saved results read

    def restart(self) -> None:
        """Time from now (a resumed search's view was pickled when the search began)."""
        self.started = self.last_print = time.monotonic()
        self.saved_read = False

    def on_result(self, trial: Any, result: dict[str, Any], trials: list[Any]) -> None:
        self.last[trial.trial_id] = result
        self._consider(result.get(self.metric), trial)
        now = time.monotonic()
        if now - self.last_print >= self.every_s:
            self.last_print = now
            self.echo(self._status(trials))

    def on_end(self, trial: Any, trials: list[Any], how: str) -> None:
        # A trial resumed from its final checkpoint reports nothing new: show what it had.
        result = self.last.pop(trial.trial_id, None) or getattr(trial, "last_result", None) or {}
        epoch = result.get("epoch", 0)
        value = result.get(self.metric)
        self._consider(value, trial)
        shown = f"{value:.4f}" if isinstance(value, float) else "-"
        # Ray calls this before it marks the trial TERMINATED/ERROR: it counts as ended here.
        self.echo(f"  {trial_name(trial)} {how} after {epoch} epochs, {self.label} {shown}. "
                  f"{self._status(trials, ended=trial)}")

    def _consider(self, value: Any, trial: Any) -> None:
        if isinstance(value, (int, float)) and math.isfinite(value) and value > self.best[0]:
            self.best = (float(value), trial_name(trial))

    def _status(self, trials: list[Any], ended: Any = None) -> str:
        # Once per (re)start, not per line: a search of thousands of trials prints thousands of lines.
        if not self.saved_read:  # trials that ended before a resume report nothing new: their saved result counts
            for t in trials:
                if t is not ended and t.status in ("TERMINATED", "ERROR"):
                    self._consider((getattr(t, "last_result", None) or {}).get(self.metric), t)
            self.saved_read = True
        done = sum(t is ended or t.status in ("TERMINATED", "ERROR") for t in trials)
        running = sum(t is not ended and t.status == "RUNNING" for t in trials)
        best = f"{self.best[0]:.4f} ({self.best[1]})" if self.best[1] else "-"
        elapsed = time.monotonic() - self.started
        return f"[{elapsed:5.0f}s] {done}/{self.num_samples} done, {running} running, best {self.label} {best}"
