"""``tune-gae search``'s closing lines: how the exported model was chosen, in one wording."""
from __future__ import annotations

from tune_gae.cli.search import winner_line

RESELECTED = {"reselection_settings": {"top": 3, "seeds": 3, "metric": "val_auc"},
              "reselection": [{"trial": "trial_b"}, {"trial": "trial_a"}, {"trial": "trial_c"}]}


def test_a_reselected_winner_says_how_it_was_chosen_and_which_trial_was_best() -> None:
    record = {"best_trial": "trial_a", "winner": {"trial": "trial_b", "seed": 1002}, **RESELECTED}
    assert winner_line(record, "val_auc") == (
        "Best model: trial_b, chosen by mean val_auc over 3 fresh seeds among the top 3 trials (the single best "
        "trial was trial_a); exported: its fresh run with seed 1002.")


def test_a_reselection_that_keeps_the_best_trial_says_so() -> None:
    record = {"best_trial": "trial_b", "winner": {"trial": "trial_b", "seed": 1000}, **RESELECTED}
    assert winner_line(record, "val_auc") == (
        "Best model: trial_b, chosen by mean val_auc over 3 fresh seeds among the top 3 trials (also the single "
        "best trial); exported: its fresh run with seed 1000.")


def test_without_reselection_the_best_trial_is_the_model() -> None:
    record = {"best_trial": "trial_a", "winner": None, "reselection": [],
              "reselection_settings": {"top": 3, "seeds": 3, "metric": "val_auc"}}
    assert winner_line(record, "val_ap") == "Best model: trial_a, the single best trial by val_ap (no re-selection)."
    assert winner_line({"best_trial": "trial_a"}, "val_auc") == (
        "Best model: trial_a, the single best trial by val_auc (no re-selection).")
