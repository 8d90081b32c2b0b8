"""Node features for graphs that come without any."""
from __future__ import annotations

import torch
from torch import Tensor

IDENTITY_FEATURES_MAX_NODES = 4096
DEGREE_BUCKETS = 32


def structural_features(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, str]:
    """Features for a graph that has none: identity for small graphs, else log-degree buckets."""
    if num_nodes <= IDENTITY_FEATURES_MAX_NODES:
        return torch.eye(num_nodes), f"no node features given: using an identity encoding ({num_nodes} dims)."
    degree = torch.bincount(edge_index.flatten(), minlength=num_nodes).float()
    bucket = torch.log2(degree + 1).floor().clamp(max=DEGREE_BUCKETS - 1).long()
    x = torch.nn.functional.one_hot(bucket, DEGREE_BUCKETS).float()
    return x, f"no node features given: using a one-hot log-degree encoding ({DEGREE_BUCKETS} dims)."
