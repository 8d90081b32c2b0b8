"""What a search ships to its trials (``trial_copy``): no test edge, compact, same training."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from tune_gae.config import DataConfig, run_config_from_dict
from tune_gae.data.split import load_split
from tune_gae.errors import TuneGAEError
from tune_gae.search.trainable import TrialSettings, train_trial, trial_copy
from tune_gae.train.trainer import Trainer


@pytest.fixture(scope="module")
def cora(data_root: Path):
    return load_split(DataConfig("Cora", root=str(data_root)))


def test_trial_copy_has_no_test_edges_and_ships_sparse_features(cora) -> None:
    copy = trial_copy(cora)
    assert copy.test_pos is None and copy.test_neg is None
    assert copy.x.layout == torch.sparse_csr
    assert torch.equal(copy.x.to_dense(), cora.x)
    assert copy.split_hash == cora.split_hash and copy.num_features == cora.num_features
    # Pickled once per trial: Cora's 2708 x 1433 features are 1.3 % non-zero.
    assert len(pickle.dumps(copy)) * 10 < len(pickle.dumps(cora.without_test()))


@pytest.mark.parametrize("config", [{"model": "gae", "normalize_features": True},
                                    {"model": "vgae", "encoder": "linear", "dropout": 0.3}])
def test_trials_train_the_same_on_the_copy(cora, config) -> None:
    model_config, train_config = run_config_from_dict({"epochs": 4, **config}, in_channels=cora.num_features)
    histories = []
    for split in (cora, pickle.loads(pickle.dumps(trial_copy(cora)))):
        trainer = Trainer(split, model_config, train_config)
        histories.append([{k: v for k, v in trainer.step().items() if k != "epoch_seconds"} for _ in range(4)])
    assert histories[0] == histories[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this torch can use a GPU here")
def test_a_trial_given_a_gpu_without_cuda_fails_instead_of_training_on_the_cpu(cora) -> None:
    settings = TrialSettings(metric="val_auc", tensorboard_dir="/nonexistent", seed=0, cpus_per_trial=1,
                             gpus_per_trial=0.5, checkpoint_every=10)
    with pytest.raises(TuneGAEError, match=r"^this trial was given 0\.5 GPU but torch .* cannot use CUDA"):
        train_trial({"epochs": 2}, split=trial_copy(cora), settings=settings)
