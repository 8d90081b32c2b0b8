"""The names of a bundle's files and its format version: declared once, read by writer and reader."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:

    pass


BUNDLE_FORMAT = "tune-gae-bundle"
FORMAT_VERSION = 1
BEST_DIR = "best"
MODEL_FILE = "model.pt"
CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"
EMBEDDINGS_FILE = "embeddings.pt"
SPLIT_FILE = "split.pt"
ENCODER_FILE = "encoder.pt2"  # a torch.export program (tune_gae.nn.portable)
SCORER_FILE = "scorer.pt2"  # a torch.export program (tune_gae.nn.portable_scorer)
CARD_FILE = "MODEL_CARD.md"
BUNDLE_FILES = (MODEL_FILE, CONFIG_FILE, METRICS_FILE, EMBEDDINGS_FILE, SPLIT_FILE, ENCODER_FILE, SCORER_FILE,
                CARD_FILE)
SPLIT_KEYS = ("train_edge_index", "val_pos", "val_neg", "test_pos", "test_neg")
