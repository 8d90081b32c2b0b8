"""The bundle's MODEL_CARD.md: what was searched, how the model was chosen, metrics, how to load it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tune_gae.config import ModelConfig
from tune_gae.errors import TuneGAEError
from tune_gae.rules import ALL_DECODER_OPTIONS, DECODER_OPTIONS, GRAPH_DECODERS, LINK_METRICS

if TYPE_CHECKING:

    pass


# --------------------------------------------------------------------------- model card


def applicable_hyperparameters(model: dict[str, Any], training: dict[str, Any]) -> dict[str, Any]:
    """The chosen hyperparameters that shaped this model: no input size or seed, no hidden widths
    for a linear encoder, no KL weight for a GAE (it has no KL term), no decoder setting its
    decoder does not use (``rules.DECODER_OPTIONS``)."""
    decoder = model.get("decoder", "inner_product")
    ignored = {"in_channels", "seed", *(set(ALL_DECODER_OPTIONS) - set(DECODER_OPTIONS.get(decoder, ())))}
    if model["encoder"] == "linear":
        ignored.add("hidden_channels")
    if model["model"] == "gae":
        ignored.add("kl_weight")
    return {k: v for k, v in {**model, **training}.items() if k not in ignored}



def _model_card(config: dict[str, Any], metrics: dict[str, Any], rows: list[dict[str, Any]], encoder_note: str,
                scorer_note: str) -> str:
    search, trial, model, training = config["search"], config["trial"], config["model"], config["training"]
    states: dict[str, int] = {}
    for row in rows:
        states[str(row.get("state"))] = states.get(str(row.get("state")), 0) + 1
    stopped = sum(row.get("stopped_early") is True for row in rows)
    space_lines = _space_lines(search["space"], search["max_epochs"])
    scheduler = (
        f"ASHA (grace period {search['grace_period']} epochs, reduction factor {search['reduction_factor']}, "
        f"max {search['max_epochs']} epochs)" if search["scheduler"] == "asha" else "FIFO (no early stopping)"
    )
    hyper = applicable_hyperparameters(model, training)
    split = config["split"]
    sizes = split["sizes"]
    negatives = (
        f"each with its own {split.get('negatives_per_positive')} hard negatives (HeaRT-style: one endpoint "
        "corrupted, partners ranked by resource allocation on the training graph, plus random ones)"
        if split.get("negatives") == "hard" else "each with as many sampled non-edges"
    )
    names = [name for name in LINK_METRICS if f"val_{name}" in metrics and f"test_{name}" in metrics]
    model_config = ModelConfig(**model)
    reads_graph = model_config.decoder in GRAPH_DECODERS
    return "\n".join([
        f"# {model['model'].upper()} link predictor for {config['dataset']}",
        "",
        f"Exported by tune-gae {config['versions'].get('tune_gae')} on {config['created']} from trial "
        f"`{trial['id']}` of the search `{search['name']}` ({search['path']}).",
        "",
        "## What was searched",
        "",
        f"- Dataset: {config['dataset']} ({config['num_nodes']} nodes, {config['in_channels']} input features; "
        f"source `{config['data']['dataset']}`).",
        f"- Node encoding: `{model.get('node_encoding', 'features')}`"
        + ("" if model.get("node_encoding", "features") == "features" else
           " (structure from the training edges only; `tune-gae embed` rebuilds it from `split.pt`)") + ".",
        f"- Split: seed {split['seed']}, hash `{split['hash']}`: {sizes['train_edge_index'] // 2} training edges, "
        f"{sizes['val_pos']} validation and {sizes.get('test_pos', 0)} test edges, {negatives}.",
        f"- Space: `{search['space']}`" + (":" if space_lines else "."),
        *space_lines,
        f"- {search['num_trials']} trials (" + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
        + f"; {stopped} stopped early), Optuna TPE (seed {search['seed']}) through Ray Tune, scheduler {scheduler}.",
        "",
        "## How this model was selected",
        "",
        *_selection_lines(trial, metrics),
        "- Trials never received the test edges. The test metrics below were computed once, at export.",
        "- Chosen hyperparameters: " + ", ".join(f"{k}={v}" for k, v in hyper.items()) + ".",
        f"- Decoder (the link scorer): {model_config.decoder_summary()}"
        + (", common neighbours read from the training edges only (`split.pt`'s `train_edge_index`)"
           if reads_graph else "")
        + ". Every score here, `tune-gae predict` and `scorer.pt2` use it.",
        "- The best of many trials overfits the validation edges a little: run "
        "`tune-gae evaluate <bundle> --seeds 5` for an estimate from fresh re-training.",
        "",
        "## Metrics",
        "",
        "| | " + " | ".join(_label(name) for name in names) + " |",
        "|---" * (len(names) + 1) + "|",
        "| validation (these weights) | " + " | ".join(f"{metrics['val_' + n]:.4f}" for n in names) + " |",
        "| test (once, at export) | " + " | ".join(f"{metrics['test_' + n]:.4f}" for n in names) + " |",
        "",
        "Hits@K: share of positives scored strictly above the K-th best of their negatives (OGB); MRR: "
        "mean of 1/rank of each positive among its negatives, ties counted half. AUC/AP pool all negatives.",
        *_baseline_rows(metrics, names, model_config.decoder),
        "",
        "## How to load",
        "",
        "```python",
        "import torch",
        "from tune_gae import load_model",
        "from tune_gae.bundle.reader import load_bundle_split, load_embeddings",
        "from tune_gae.train.trainer import link_metrics",
        "",
        'model = load_model("path/to/bundle")          # GAE/VGAE in eval mode, weights_only loading'
        + ("; the decoder reads split.pt's training graph" if reads_graph else ""),
        'z = load_embeddings("path/to/bundle")         # [num_nodes, latent], on the training graph',
        'edges = load_bundle_split("path/to/bundle")   # train_edge_index, val/test pos/neg',
        "with torch.no_grad():",
        "    probability = torch.sigmoid(model.decoder.logits(z, torch.tensor([[u], [v]])))  # a link u-v",
        '    test = link_metrics(model.decoder, z, edges["test_pos"], edges["test_neg"])  # metrics.json\'s test_*',
        "```",
        "",
        "Without tune-gae (torch only):",
        "",
        "```python",
        "import torch",
        'encoder = torch.export.load("path/to/bundle/encoder.pt2").module()  # no code is unpickled',
        "z = encoder(x, edge_index)   # any graph: raw features [N, "
        f"{config['in_channels']}], edge_index [2, E] int64 (both directions) -> [N, {model_config.embedding_dim}]",
        'scorer = torch.export.load("path/to/bundle/scorer.pt2").module()  # the decoder, no code unpickled',
        'split = torch.load("path/to/bundle/split.pt", weights_only=True)  # training graph, test pairs',
        "# z: the encoder's or embeddings.pt; pairs [2, P] int64 -> [P] logits (sigmoid: probabilities)",
        'logits = scorer(z, split["test_pos"], split["train_edge_index"])'
        + ("  # the graph: common neighbours" if reads_graph else "  # (this decoder ignores the graph)"),
        "```",
        "",
        f"`encoder.pt2`: {encoder_note}. `scorer.pt2`: {scorer_note}. The test metrics above are "
        "`link_metrics` of these logits for `split.pt`'s `test_pos` and `test_neg` (the scorer's logits of them "
        "give the same AUC, AP, MRR and Hits@K). Command line: `tune-gae embed`, `tune-gae predict`, "
        "`tune-gae evaluate`.",
        "",
        "## Files",
        "",
        "`model.pt` (state_dict), `config.json`, `metrics.json`, `embeddings.pt`, `split.pt`, `encoder.pt2`, "
        "`scorer.pt2`, "
        "this card. Versions: " + ", ".join(f"{k} {v}" for k, v in config["versions"].items()) + ".",
        "",
    ])


def _baseline_rows(metrics: dict[str, Any], names: list[str], decoder: str) -> list[str]:
    """Classic baselines on the same test edges, then "tuned model vs best baseline"."""
    from tune_gae.train.baselines import LABELS, baseline_line

    baselines = metrics.get("baselines")
    if not baselines:
        return []
    # Baselines report AUC and AP; the metric table's other columns stay empty for them.
    rest = " | ".join("–" for _ in names[2:])
    rows = [f"| {LABELS.get(name, name)} (test, same split) | {m['test_auc']:.4f} | {m['test_ap']:.4f} | {rest} |"
            for name, m in baselines.items()]
    return [*rows, "", f"Tuned model vs best baseline: {baseline_line(metrics['test_auc'], baselines, decoder=decoder)}. "
            "Heuristics read the training graph only; features-only is an MLP of the node features with an "
            "inner-product decoder and no message passing (tune_gae.train.baselines)."]


def _label(name: str) -> str:
    return {"auc": "AUC", "ap": "AP", "mrr": "MRR"}.get(name, name.replace("hits@", "Hits@"))


def _selection_lines(trial: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    """How the exported weights were chosen: re-selection over fresh seeds, or the single best trial."""
    metric = metrics["selected_by"]
    again = trial.get("reselection")
    if trial.get("picked_by_hand"):
        return [
            f"- Picked by hand: trial `{trial['id']}` was named with `tune-gae export --trial` (not chosen by a "
            f"rule; in a multi-objective search, e.g. a point of the Pareto front), with the weights of its best "
            f"validation epoch ({trial['best_epoch']} of {trial['epochs_run']} run): `{metric}` {metrics[metric]:.4f}.",
        ]
    if again:
        values = ", ".join(f"{v:.4f}" for v in again["values"])
        return [
            f"- Re-selection: after the search, the top {again['candidates']} trials by `{metric}` were "
            f"re-trained from scratch with {len(again['values'])} fresh seeds each (same split, no test "
            f"edges); trial `{trial['id']}` had the best mean `{metric}`: {again['mean']:.4f} ± "
            f"{again['std']:.4f} ({values}).",
            f"- Exported weights: that configuration's fresh run with the best `{metric}` (seed "
            f"{again['seed']}), at its best validation epoch ({trial['best_epoch']} of {trial['epochs_run']} run). "
            "The search trial's own value is not averaged in: it is the maximum that put the trial in the top list.",
        ]
    return [
        f"- The trial with the highest validation {_label(metric.replace('val_', ''))} (`{metric}`), and "
        f"within it the weights of its best validation epoch ({trial['best_epoch']} of {trial['epochs_run']} run).",
    ]


def _space_lines(space_path: str, max_epochs: int) -> list[str]:
    from tune_gae.search.space_parser import load_space

    try:
        space = load_space(space_path)
    except TuneGAEError:
        return []
    lines = []
    for parameter in space.parameters:
        when = f" (when {parameter.condition()})" if parameter.requires else ""
        text = parameter.describe()
        if parameter.name == "epochs":
            text += f" (capped at {max_epochs})"
        # Composite parameters (hidden_channels) describe their parts with their own kinds.
        kind = "" if text.startswith(f"{parameter.kind} ") else f"{parameter.kind} "
        lines.append(f"  - `{parameter.name}`: {kind}{text}{when}")
    return lines
