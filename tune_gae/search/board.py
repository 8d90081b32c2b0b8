"""A search's TensorBoard board: readable run names and one HParams row per trial, however it ended.

TensorBoard's HParams tab takes a run's hyperparameters from the FIRST ``session_start_info`` in
its folder and each metric's value from the LAST point of the scalar series of that tag in the
same folder. Ray Tune runs no more code in a trial ASHA stops, so trials write only their
per-epoch curves, and the driver writes every trial's HParams entry from the trial table once
the search (or its resume) ends: one event file per run (``HPARAMS_SUFFIX``), replaced on every
rewrite, so a resumed search shows its final state. Export adds the winner's test metrics to its
run (``TEST_SUFFIX``).
"""
from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tune_gae.config import RUN_KEYS, ModelConfig
from tune_gae.rules import ALL_DECODER_OPTIONS, DECODER_OPTIONS
from tune_gae.search.pareto import front_ids
from tune_gae.search.results import TENSORBOARD_DIR
from tune_gae.search.space import Choice, Constant, FloatRange, IntRange, Parameter, SearchSpace
from tune_gae.search.stopping import ERROR, NAN, STOP_REASONS
from tune_gae.train.logger import hparam_value

if TYPE_CHECKING:
    from tune_gae.search.settings import SearchSettings

HPARAMS_SUFFIX = ".tune-gae-hparams"  # the driver's HParams entry of one run
TEST_SUFFIX = ".tune-gae-test"  # the exported trial's test metrics
# Scalar tags of the HParams metrics: one Time Series group, after the per-epoch curves (loss,
# val_*: groups sort by name), so the first cards are curves, not columns of dots.
SUMMARY_TAG = "verdict/"
FAILED = (NAN, ERROR)  # their HParams session status is "failure"
# The architecture keys a run name shows, with their prefixes: trial_1bd15062-vgae-gcn-h32-l16.
NAME_KEYS = (("model", ""), ("encoder", ""), ("hidden_channels", "h"), ("latent_channels", "l"))


# --------------------------------------------------------------------------- run names


def run_name(trial: str, config: Mapping[str, Any]) -> str:
    """``trial_<id>-<model>-<encoder>-h<widths>-l<latent>``: stable (the id and the config never
    change), unique (the id), readable; only keys the config holds, no hidden part when none."""
    parts = [trial]
    for key, prefix in NAME_KEYS:
        value = config.get(key)
        if value is None or value == "" or value == []:
            continue
        shown = hparam_value(value)
        if key == "hidden_channels" and (shown == "none" or config.get("encoder") == "linear"):
            continue
        parts.append(f"{prefix}{shown}")
    return "-".join(str(part).replace("/", "_") for part in parts)


def trial_of_run(folder_name: str) -> str:
    """The trial a run folder belongs to: ``trial_1bd15062-gae-l16`` -> ``trial_1bd15062``."""
    return folder_name.split("-", 1)[0]


def run_dir(tensorboard_dir: Path, trial: str) -> Path | None:
    """The run folder of ``trial`` (named by ``run_name`` or, before, by the trial alone)."""
    return run_dirs(tensorboard_dir).get(trial)


def run_dirs(tensorboard_dir: Path) -> dict[str, Path]:
    """Every trial's run folder (the first by name when it has several), from one listing of
    ``tensorboard_dir``: looking each trial up alone lists the folder once per trial."""
    if not tensorboard_dir.is_dir():
        return {}
    found: dict[str, Path] = {}
    with os.scandir(tensorboard_dir) as entries:
        for name in sorted(entry.name for entry in entries if entry.is_dir()):
            found.setdefault(trial_of_run(name), tensorboard_dir / name)
    return found


# --------------------------------------------------------------------------- what HParams shows


@dataclass(frozen=True)
class BoardMetric:
    """One HParams metric: the trial-table column it comes from and how TensorBoard labels it."""

    key: str
    display_name: str
    description: str

    @property
    def tag(self) -> str:
        return SUMMARY_TAG + self.key

    def info(self) -> api_pb2.MetricInfo:
        return api_pb2.MetricInfo(
            name=api_pb2.MetricName(tag=self.tag), display_name=self.display_name, description=self.description
        )


def board_metrics(rows: Iterable[Mapping[str, Any]], metric: str) -> list[BoardMetric]:
    """Rank first, then every validation metric the trial table records (its best value, the
    search's metric first), how the trial ended, and the test metric for each validation one
    (only the exported trial has those: the test edges are scored once)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k.startswith("best_val_") and k not in columns)
    search_key = f"best_{metric}"
    validation = sorted(columns, key=lambda key: key != search_key)
    metrics = [BoardMetric("rank", "rank", f"1 = best {metric} of the trials that left a model")]
    metrics += [BoardMetric(key, key.replace("_", " ", 1), f"best validation {key[5:]} over the trial's epochs (0: none reported)")
                for key in validation]
    codes = ", ".join(f"{code} {reason}" for code, reason in enumerate(("not ended", *STOP_REASONS)))
    metrics += [
        BoardMetric("stop_reason", "stop reason", f"why the trial stopped: {codes}"),
        BoardMetric("epochs_run", "epochs run", "epochs the trial trained"),
        BoardMetric("best_epoch", "best epoch", "the epoch of its best validation metric (its kept weights)"),
    ]
    metrics += [BoardMetric("test_" + key[len("best_val_"):], "test " + key[len("best_val_"):],
                            "the exported model's test metric (scored once, at export)") for key in validation]
    return metrics


def objective_metrics(objectives: tuple[str, ...] | None) -> list[BoardMetric]:
    """A multi-objective search's cost and ``pareto`` (1: on the Pareto front, ``search.pareto``)."""
    if objectives is None:
        return []
    first, cost = objectives
    return [BoardMetric(cost, cost.replace("_", " "), f"the trial's {cost}, the second objective"),
            BoardMetric("pareto", "pareto", f"1 = on the Pareto front of {first} and {cost} (trials that ran their "
                        f"own course), 0 = not")]


def stop_code(row: Mapping[str, Any]) -> int:
    """The trial table's ``stop_reason`` as the number HParams shows: 1 + its index in
    ``STOP_REASONS`` (0: not ended)."""
    reason = row.get("stop_reason")
    return STOP_REASONS.index(reason) + 1 if reason in STOP_REASONS else 0


def ranks(rows: Iterable[Mapping[str, Any]], metric: str, winner: str | None = None) -> dict[str, int]:
    """Trial -> rank: 1 = the one export picks (``winner``, the re-selection's choice; without it
    the best ``metric`` among trials that left a model), then the others that left a model by
    ``metric``, then the rest (errors, no checkpoint, no value) in table order."""
    key = f"best_{metric}"
    rows = list(rows)
    usable = [r for r in rows if r.get("state") == "TERMINATED" and r.get("checkpoint") and _finite(r.get(key))]
    usable.sort(key=lambda r: (str(r["trial"]) != winner, -float(r[key])))
    kept = {id(r) for r in usable}
    ordered = usable + [r for r in rows if id(r) not in kept]
    return {str(r["trial"]): rank for rank, r in enumerate(ordered, start=1)}


@dataclass(frozen=True)
class BoardHParam:
    """One sampled hyperparameter: its trial-table column, HParams name (ordered) and domain."""

    key: str
    position: int
    parameter: Parameter

    @property
    def name(self) -> str:
        # TensorBoard lists hyperparameters sorted by name and ticks the first five: the number
        # keeps the space file's order; the display name is the key alone.
        return f"{self.position:02d} {self.key}"

    def info(self, observed: Iterable[Any]) -> api_pb2.HParamInfo:
        distribution = self.parameter.distribution
        info = api_pb2.HParamInfo(name=self.name, display_name=self.key, differs=True)
        if isinstance(distribution, (FloatRange, IntRange)):
            info.type = api_pb2.DATA_TYPE_FLOAT64
            info.domain_interval.min_value = float(distribution.low)
            info.domain_interval.max_value = float(distribution.high)
            return info
        values = ([hparam_value(v) for v in distribution.options] if isinstance(distribution, Choice)
                  else sorted({self.value(v) for v in observed if v is not None}, key=str))
        if all(isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_BOOL
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_FLOAT64
        else:
            info.type = api_pb2.DATA_TYPE_STRING
            values = [str(v) for v in values]
        info.domain_discrete.extend(values)
        return info

    def value(self, raw: Any) -> bool | float | str:
        """A trial-table value in the type its domain declares (a CSV gives text)."""
        distribution = self.parameter.distribution
        if isinstance(distribution, (FloatRange, IntRange)):
            return float(raw)
        if isinstance(distribution, Choice):
            shown = str(hparam_value(raw))
            for option in (hparam_value(o) for o in distribution.options):
                if str(option) == shown:
                    return option
        return str(hparam_value(raw))


def sampled_hparams(space: SearchSpace | None, rows: Iterable[Mapping[str, Any]] = ()) -> list[BoardHParam]:
    """What the space samples, in file order, those every trial has first: TensorBoard ticks the
    first five and draws a parallel-coordinates line only for a trial with a value in every
    ticked column, so a conditional one (hidden widths of gcn encoders only) among them would
    hide the other trials. Constants and derived keys (seed, in_channels, a default epochs) are
    the same for every trial and stay out, as does what no trial sampled (a condition on the
    graph that never held). Without the space (its file moved since the search began): the run
    keys whose values differ between trials."""
    rows = list(rows)
    if space is not None:
        sampled = [p for p in space.parameters if not isinstance(p.distribution, Constant)]
    else:
        observed = {key: {str(hparam_value(r[key])): r[key] for r in rows if r.get(key) not in (None, "")}
                    for key in RUN_KEYS}
        sampled = [Parameter(key, Choice(tuple(hparam_value(v) for v in values.values())))
                   for key, values in observed.items() if len(values) > 1]
    if rows:
        counts = {p.name: sum(r.get(p.name) not in (None, "") and _applies(p.name, r) for r in rows) for p in sampled}
        sampled = [p for p in sampled if counts[p.name]]
        sampled.sort(key=lambda p: counts[p.name] < len(rows))  # stable: file order within each part
    return [BoardHParam(p.name, position, p) for position, p in enumerate(sampled, start=1)]


# --------------------------------------------------------------------------- writing


def write_board(
    folder: Path, rows: list[dict[str, Any]], settings: SearchSettings, space: SearchSpace | None,
    *, winner: str | None = None,
) -> None:
    """(Re)write every trial's HParams entry in ``<folder>/tensorboard``: its sampled
    hyperparameters (those that applied to it), rank, best validation metrics, epochs and why it
    stopped. ``space`` is the search's space (None: unreadable); ``rows`` its trial table."""
    tensorboard_dir = folder / TENSORBOARD_DIR
    if space is not None:  # ranges as the search sampled them: epochs capped by --max-epochs
        space = replace(space, parameters=space.define_by_run(max_epochs=settings.max_epochs).parameters)
    hparams = sampled_hparams(space, rows)
    metrics = board_metrics(rows, settings.metric) + objective_metrics(settings.objectives)
    on_front = front_ids(rows, settings.objectives)
    experiment = _plugin_summary(metadata.EXPERIMENT_TAG, experiment=api_pb2.Experiment(
        description=f"{len(rows)} trials of {Path(settings.space).stem}, ranked by best {settings.metric}"
        + _fixed_decoder(hparams, rows),
        time_created_secs=time.time(),
        hparam_infos=[h.info(row.get(h.key) for row in rows) for h in hparams],
        metric_infos=[m.info() for m in metrics],
    ))
    rank_of = ranks(rows, settings.metric, winner)
    logged = run_dirs(tensorboard_dir)
    for row in rows:
        trial = str(row["trial"])
        run = logged.get(trial) or tensorboard_dir / run_name(trial, row)
        # 0 for what a trial never reported (it failed first): TensorBoard drops a line with a gap.
        values = {m.key: _number(row.get(m.key)) or 0.0 for m in metrics if not m.key.startswith("test_")}
        values.update(rank=rank_of[trial], stop_reason=stop_code(row))
        if settings.objectives is not None:
            values["pareto"] = float(trial in on_front)
        step = int(_number(row.get("epochs_run")) or 0)
        start = plugin_data_pb2.SessionStartInfo(start_time_secs=_start_time(run) or time.time())
        for h in hparams:
            # A conditional one that did not apply stays absent; so does a decoder setting that
            # the trial's decoder does not use (sampled for every trial by the space).
            if row.get(h.key) not in (None, "") and _applies(h.key, row):
                _set_value(start.hparams[h.name], h.value(row[h.key]))
        status = (api_pb2.STATUS_FAILURE if row.get("stop_reason") in FAILED
                  else api_pb2.STATUS_SUCCESS if row.get("stop_reason") else api_pb2.STATUS_RUNNING)
        end = plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time())
        summaries = [experiment, _plugin_summary(metadata.SESSION_START_INFO_TAG, session_start_info=start),
                     _scalars(values), _plugin_summary(metadata.SESSION_END_INFO_TAG, session_end_info=end)]
        _replace_events(run, HPARAMS_SUFFIX, summaries, step)


def _decoder_of(row: Mapping[str, Any]) -> str:
    return str(row.get("decoder") or ModelConfig.decoder)


def _applies(key: str, row: Mapping[str, Any]) -> bool:
    """Whether hyperparameter ``key`` shaped the trial of ``row`` (decoder settings: ``rules.DECODER_OPTIONS``)."""
    return key not in ALL_DECODER_OPTIONS or key in DECODER_OPTIONS.get(_decoder_of(row), ALL_DECODER_OPTIONS)


def _fixed_decoder(hparams: list[BoardHParam], rows: Iterable[Mapping[str, Any]]) -> str:
    """``; decoder hadamard_mlp`` for the description when the space does not sample the decoder
    (HParams then has no decoder column, yet the scores are the decoder's)."""
    if any(h.key == "decoder" for h in hparams):
        return ""
    decoders = sorted({_decoder_of(row) for row in rows})
    return f"; decoder {', '.join(decoders)}" if decoders else ""


def write_test_metrics(folder: Path, trial: str, metrics: Mapping[str, Any], *, step: int = 0) -> Path | None:
    """Add the exported trial's test metrics (``test_*`` keys of ``metrics``) to its run; the
    run folder, or None when the search has no TensorBoard folder for that trial."""
    run = run_dir(folder / TENSORBOARD_DIR, trial)
    if run is None:
        return None
    values = {key: value for key, value in metrics.items() if key.startswith("test_") and _finite(value)}
    _replace_events(run, TEST_SUFFIX, [_scalars(values)], step)
    return run


def _plugin_summary(tag: str, **data: Any) -> Summary:
    """An HParams plugin summary (what ``tensorboard.plugins.hparams.summary`` builds with TF)."""
    content = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(**data))
    return Summary(value=[Summary.Value(tag=tag, metadata=content, tensor=metadata.NULL_TENSOR)])


def _set_value(target: Any, value: bool | float | str) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, (int, float)):
        target.number_value = float(value)
    else:
        target.string_value = str(value)


def _scalars(values: Mapping[str, Any]) -> Summary:
    return Summary(value=[
        Summary.Value(tag=SUMMARY_TAG + key, simple_value=math.nan if value is None else float(value))
        for key, value in values.items()
    ])


def _replace_events(run: Path, suffix: str, summaries: list[Summary], step: int) -> None:
    """One event file ending in ``suffix`` holding ``summaries``, replacing an earlier one (the
    first metadata of a tag wins in TensorBoard: an old entry left behind would shadow this)."""
    run.mkdir(parents=True, exist_ok=True)
    for old in run.glob(f"*tfevents*{suffix}"):
        old.unlink()
    # The file TensorBoard's EventFileWriter writes (its name, a version event first), written
    # here and now: EventFileWriter starts a writer thread per file, a search writes thousands.
    now = time.time()
    name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}.{os.getpid()}.0{suffix}"
    with open(run / name, "wb") as handle:
        records = RecordWriter(handle)
        records.write(Event(wall_time=now, file_version="brain.Event:2").SerializeToString())
        for summary in summaries:
            records.write(Event(summary=summary, step=step, wall_time=now).SerializeToString())


def _start_time(run: Path) -> float | None:
    """When the trial began logging (its first event file's name carries the time)."""
    times = []
    for path in run.glob("*tfevents*") if run.is_dir() else ():
        if path.name.endswith((HPARAMS_SUFFIX, TEST_SUFFIX)):
            continue
        try:
            times.append(float(path.name.split("tfevents.", 1)[1].split(".", 1)[0]))
        except (IndexError, ValueError):
            continue
    return min(times) if times else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite(value: Any) -> bool:
    number = _number(value) if not isinstance(value, str) else None
    return number is not None and math.isfinite(number)
