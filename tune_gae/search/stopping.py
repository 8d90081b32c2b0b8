"""Why a trial ended: one of ``STOP_REASONS``, derived from what the trial reported.

A trial reports at every ASHA rung (with a checkpoint), so ASHA stops a trial exactly at a rung
epoch; a trainer stopped by patience ends at the first epoch ``patience`` epochs after its best;
the time budget stops trials wherever they are. The rules run in the order the causes act.
"""
from __future__ import annotations

from collections.abc import Collection

EPOCHS = "epochs"  # ran every epoch it was given
PATIENCE = "patience"  # no validation improvement for `patience` epochs
ASHA = "asha"  # stopped by the ASHA scheduler at a rung
NAN = "nan"  # its loss or embeddings turned NaN/inf (it ended itself)
ERROR = "error"  # it raised (after its retries)
TIME_BUDGET = "time budget"  # the search's --time-budget ran out
STOP_REASONS = (EPOCHS, PATIENCE, ASHA, NAN, ERROR, TIME_BUDGET)
ENDED_EARLY = (PATIENCE, ASHA, TIME_BUDGET)  # stopped before its epochs ran out, healthy

# Why a trial ended -> the state Optuna records (the README's "The Optuna study" says the same).
# COMPLETE: the trial ran its own course (its epochs, its patience, or it diverged: a real, bad
# score the sampler must learn from). PRUNED: cut short from outside (ASHA at a rung, the time
# budget); Optuna stores the last intermediate value (the best so far) as its value, and its
# importance and history plots read COMPLETE trials only, as for trials its own pruners stop.
# FAIL: it raised, or never reported.
STUDY_STATES = {EPOCHS: "COMPLETE", PATIENCE: "COMPLETE", NAN: "COMPLETE", ASHA: "PRUNED",
                TIME_BUDGET: "PRUNED", ERROR: "FAIL"}


def stop_reason(*, error: bool, diverged: bool, epochs_run: int, planned_epochs: int | None, best_epoch: int,
                patience: int, rungs: Collection[int]) -> str:
    """The reason a finished trial stopped (``rungs``: ASHA's epochs, empty without ASHA).

    ``planned_epochs`` is None for a trial stopped before its first report (Ray keeps no config
    for it): only the time budget does that to a healthy trial.
    """
    if error:
        return ERROR
    if diverged:
        return NAN
    if planned_epochs is not None and epochs_run >= planned_epochs:
        return EPOCHS
    if patience and epochs_run - best_epoch >= patience:
        return PATIENCE
    if epochs_run in rungs:
        return ASHA
    return TIME_BUDGET
