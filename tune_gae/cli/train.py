"""``tune-gae train``: one run, printed as a summary or JSON."""
from __future__ import annotations

import json

import click

from tune_gae.cli.main import main
from tune_gae.cli.options import (
    data_root_option,
    dataset_option,
    features_option,
    hyper_option,
    metric_choice,
    negatives_option,
    parse_widths,
    split_ratio_options,
    test_graph_option,
    user_errors,
)


@main.command()
@dataset_option
@features_option
@data_root_option
@hyper_option("model")
@hyper_option("encoder")
@hyper_option("encoder_norm", help="batch: a batch norm after every GCN layer, the embedding's included "
              "(MaskGAE's encoder).")
@hyper_option("embedding_activation", help="elu: an ELU on the embedding, after its batch norm (MaskGAE's "
              "encoder); none: a linear embedding.")
@click.option("--hidden", multiple=True, default=("32",), callback=parse_widths,
              help="Hidden widths: repeat or comma list (--hidden 64,32).  [default: 32]")
@hyper_option("latent_channels", "--latent")
@hyper_option("propagation_hops", help="The embedding's GCN layer propagated K - 1 more hops, the K hops "
              "averaged (LightGCN-style; Refined-GAE's Cora encoder); 1: a plain GCN layer.")
@hyper_option("lr")
@hyper_option("epochs")
@hyper_option("dropout")
@hyper_option("weight_decay")
@hyper_option("kl_weight", help="VGAE only: weight of KL/N in the loss.")
@hyper_option("patience", help="Stop after this many epochs without a validation improvement (0: never).")
@hyper_option("neg_ratio", help="Sampled non-edges per training edge each epoch.")
@hyper_option("edge_dropout", help="Share of message-passing edges dropped each epoch.")
@hyper_option("mask_ratio", help="Share of training edges hidden from message passing each epoch and "
              "reconstructed (MaskGAE); 0: the plain GAE loss.")
@hyper_option("mask_kind", help="edge: each training edge masked on its own; path: the edges of 3-step random "
              "walks from a --mask-ratio share of the nodes (MaskGAE's path masking); directed: each direction masked on "
              "its own, an edge hidden when both are, every masked direction reconstructed (MaskGAE's edge masking).")
@hyper_option("grad_clip", help="Clip the gradients' total L2 norm to this every step (MaskGAE: 1); 0: off.")
@hyper_option("degree_loss", help="Weight of MaskGAE's degree loss (an MLP regressing each node's degree over "
              "the reconstructed edges from its embedding; MaskGAE: 0.002); 0: off.")
@hyper_option("weight_ema", help="Validate and keep a moving average of the weights, this decay per epoch "
              "(Polyak averaging); 0: the live weights.")
@hyper_option("embedding_norm", help="Rescale every node embedding to this L2 length (a scaled-cosine "
              "decoder, GNAE); 0: the raw inner product.")
@hyper_option("ensemble", help="Train this many encoders side by side (a seed ensemble) and average "
              "their scores through one concatenated embedding.")
@hyper_option("decoder", help="The link scorer: inner_product (the paper's), hadamard_mlp (an MLP over "
              "z_u * z_v, MaskGAE's) or ncn (Neural Common Neighbour: also the pair's common neighbours in the "
              "training graph).")
@hyper_option("decoder_layers", help="Linear layers of a learned decoder's MLP.")
@hyper_option("decoder_width", help="Hidden width of a learned decoder's MLP.")
@hyper_option("decoder_dropout", help="Dropout inside a learned decoder's MLP.")
@hyper_option("decoder_norm", help="Normalisation of a learned decoder's hidden layers.")
@hyper_option("cn_weighting", help="ncn: weight of each common neighbour w (1, 1/log deg w, 1/deg w).")
@click.option("--normalize-features/--raw-features", default=True, show_default=True,
              help="Row-normalise node features (the paper's setting) or feed them raw.")
@click.option("--node-encoding", default=None,
              help="What the encoder reads: features, embedding, degree, spectral or parts joined by '+' "
                   "(default: features, or embedding for a graph without features). Structure comes from "
                   "training edges only.")
@hyper_option("encoding_dims", help="Columns of the spectral encoding (when --node-encoding uses spectral).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the split and the model.")
@negatives_option
@split_ratio_options
@test_graph_option
@click.option("--metric", type=metric_choice(), default="val_auc", show_default=True,
              help="Keep the epoch with the best value of this validation metric.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
@click.option("--results-dir", type=click.Path(file_okay=False), default="results", show_default=True)
@click.option("--name", default=None, help="Run folder under --results-dir (default: <dataset>-<model>-<time>).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a summary.")
@user_errors
def train(
    dataset: str,
    features: str | None,
    data_root: str | None,
    model: str,
    encoder: str,
    hidden: tuple[int, ...],
    latent_channels: int,
    lr: float,
    epochs: int,
    dropout: float,
    weight_decay: float,
    kl_weight: float,
    patience: int,
    neg_ratio: int,
    edge_dropout: float,
    mask_ratio: float,
    embedding_norm: float,
    encoder_norm: str,
    embedding_activation: str,
    propagation_hops: int,
    mask_kind: str,
    grad_clip: float,
    degree_loss: float,
    weight_ema: float,
    ensemble: int,
    decoder: str,
    decoder_layers: int,
    decoder_width: int,
    decoder_dropout: float,
    decoder_norm: str,
    cn_weighting: str,
    normalize_features: bool,
    node_encoding: str | None,
    encoding_dims: int,
    seed: int,
    negatives: str,
    val_ratio: float,
    test_ratio: float,
    test_graph: str,
    metric: str,
    device: str,
    results_dir: str,
    name: str | None,
    as_json: bool,
) -> None:
    """Train one GAE/VGAE, select the best validation epoch, test it once.

    Writes TensorBoard events (loss, every validation metric, HParams) under RESULTS_DIR/NAME.
    """
    from tune_gae.config import DataConfig
    from tune_gae.data.edge_file import check_dataset_file

    data_config = DataConfig(dataset=dataset, root=data_root, features=features, split_seed=seed,
                             negatives=negatives, val_ratio=val_ratio, test_ratio=test_ratio)
    check_dataset_file(dataset, features)
    from tune_gae.train.local_run import train_run  # torch + PyG: after the flags were checked

    hyper = dict(
        model=model, encoder=encoder, encoder_norm=encoder_norm, embedding_activation=embedding_activation,
        hidden_channels=hidden, latent_channels=latent_channels, propagation_hops=propagation_hops, lr=lr,
        epochs=epochs, dropout=dropout, weight_decay=weight_decay, kl_weight=kl_weight,
        normalize_features=normalize_features, patience=patience, seed=seed,
        neg_ratio=neg_ratio, edge_dropout=edge_dropout, mask_ratio=mask_ratio, encoding_dims=encoding_dims,
        mask_kind=mask_kind, grad_clip=grad_clip, degree_loss=degree_loss, weight_ema=weight_ema,
        embedding_norm=embedding_norm, ensemble=ensemble, decoder=decoder, decoder_layers=decoder_layers,
        decoder_width=decoder_width, decoder_dropout=decoder_dropout, decoder_norm=decoder_norm,
        cn_weighting=cn_weighting,
    )
    if node_encoding:
        hyper["node_encoding"] = node_encoding
    summary = train_run(data_config, hyper, results_dir=results_dir, name=name, device=device,
                        metric=metric, test_graph=test_graph, echo=None if as_json else click.echo)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{summary['dataset']} {model.upper()}: best epoch {summary['best_epoch']}/{summary['epochs']}  "
            f"val AUC {summary['val_auc']:.4f} AP {summary['val_ap']:.4f}  "
            f"test AUC {summary['test_auc']:.4f} AP {summary['test_ap']:.4f} MRR {summary['test_mrr']:.4f} "
            f"Hits@20 {summary['test_hits@20']:.4f} ({summary['negatives']} negatives)  "
            f"({summary['seconds']:.1f} s)\n{summary['baseline_line']}\nTensorBoard: tensorboard --logdir {summary['log_dir']}"
        )


