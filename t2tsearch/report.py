"""Reports: plotly figures of a run's trials table, the offline HTML page, and run comparison."""

from __future__ import annotations

import html
import math
import os
import shutil
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from t2tsearch.arch import ArchConfig, trial_config_id
from t2tsearch.atomic import atomic_write
from t2tsearch.confirmations import confirmed_table, same_budget_confirmations, seed_runs
from t2tsearch.errors import UserError
from t2tsearch.fidelity import BudgetFidelity, not_measured_sentence, run_fidelity
from t2tsearch.groups import (
    PLANE,
    GroupComparison,
    MatchedDifference,
    Scale,
    compare_groups,
    group_members,
)
from t2tsearch.pareto import box_volume, common_reference, table_reference, with_measured
from t2tsearch.results import (
    CONSUMED,
    ObjectiveSpec,
    RunDir,
    describe_counts,
    full_budget,
    hypervolume,
    objective_specs,
    pareto_front,
    status_counts,
    trials_table,
)
from t2tsearch.space.load import load_run_space
from t2tsearch.space.schema import SearchSpace

PLOTLY_JS = "plotly.min.js"
FRONT_TRACE = "Pareto front"  # the name the browser test looks the front trace up by
PARAM_PREFIX = "param:"  # searched Optuna parameters added to the table, e.g. param:backbone.head_dim
MIN_IMPORTANCE_TRIALS = 4
# Only these statuses are finished trainings, the trials of the budget (results.CONSUMED):
# rejected proposals cost no time, interrupted ones are trained again.
TRAINED = CONSUMED
STATUS_STYLE = {
    "complete": {"color": "#1f77b4", "symbol": "circle"},
    "stopped_early": {"color": "#9a9a9a", "symbol": "circle-open"},
    "diverged": {"color": "#d62728", "symbol": "x"},
}
GROUP_COLORS = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
RUN_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]
LABELS = {"accuracy": "accuracy (%)", "macs": "MACs", "params": "parameters",
          "latency_ms": "latency (ms)"}
# Cost axes are logarithmic. Without a tickformat plotly labels the ticks between two powers of
# ten with a bare "2" and "5"; with one every tick carries its value ("2M", "5M", "10M").
SI_NOTE = "k = 10³, M = 10⁶, G = 10⁹"
LOG_AXES = {
    "macs": ("MACs per image (log scale; " + SI_NOTE + ")", "~s"),
    "params": ("parameters (log scale; " + SI_NOTE + ")", "~s"),
    "latency_ms": ("latency (ms, log scale)", "~g"),
}


class ReportError(UserError):
    """A run that cannot be reported (nothing finished, groups matching nothing)."""


# ---- small helpers --------------------------------------------------------------------------
def describe_arch(arch_json: str) -> str:
    """The whole architecture in a few hover lines."""
    cfg = ArchConfig.from_json(arch_json)
    data = cfg.to_dict()
    splits = ", ".join(f"k{s['kernel']}s{s['stride']}p{s['padding']}"
                       for s in data["t2t"]["soft_splits"])
    t2t = {k: v for k, v in data["t2t"].items() if k != "soft_splits"}
    lines = [
        cfg.short(),
        f"input {data['in_chans']}x{data['img_size']}x{data['img_size']}, "
        f"{data['num_classes']} classes, {cfg.num_tokens} tokens, pos_embed {data['pos_embed']}",
        f"t2t: splits {splits}; " + ", ".join(f"{k} {v}" for k, v in t2t.items()),
        "backbone: " + ", ".join(f"{k} {v}" for k, v in data["backbone"].items()),
    ]
    return "<br>".join(html.escape(line) for line in lines)


def _hover(rows: pd.DataFrame) -> list[str]:
    texts = []
    for _, row in rows.iterrows():
        accuracy = f"{row['accuracy']:.2f}%" if pd.notna(row.get("accuracy")) else "-"
        if row.get("seeds", 1) and row.get("seeds", 1) > 1:
            accuracy += f" ± {row['accuracy_std']:.2f} (mean of {int(row['seeds'])} seeds)"
        groups = row.get("groups") if isinstance(row.get("groups"), str) else ""
        texts.append(
            f"<b>trial {row['trial']}</b> ({row['config_id']}, {row['status']})<br>"
            f"accuracy {accuracy} | {_count(row['macs'])} MACs | {_count(row['params'])} params"
            + (f"<br>groups: {html.escape(groups)}" if groups else "")
            + "<br>" + describe_arch(row["arch"]))
    return texts


def _count(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.0f}"


def _plane(cost: str) -> list[ObjectiveSpec]:
    return [ObjectiveSpec("accuracy", True), ObjectiveSpec(cost, False)]


def _error_bars(rows: pd.DataFrame) -> dict[str, Any] | None:
    if "accuracy_std" not in rows or not (rows.get("seeds", pd.Series(dtype=int)) > 1).any():
        return None
    return {"type": "data", "array": rows["accuracy_std"].fillna(0.0).tolist(), "visible": True}


# ---- figures: a trials table in, a figure out ------------------------------------------------------
def plot_front(table: pd.DataFrame, cost: str = "macs",
               front: pd.DataFrame | None = None) -> go.Figure:
    """Accuracy against a cost: every trial, the full-budget Pareto front highlighted and joined.

    `front` defaults to the non-dominated full-budget trials of this plane; pass the run's own
    front (all its objectives) to show exactly that one.
    """
    plane = _plane(cost)
    if front is None:
        front = pareto_front(table, plane)
    front = front.sort_values(cost)
    fig = go.Figure()
    shown = table.dropna(subset=["accuracy", cost])
    complete = full_budget(shown, plane)
    others = shown[shown["status"] != "complete"]
    for status, rows in [("complete", complete), *others.groupby("status")]:
        style = STATUS_STYLE.get(status, {"color": "#ff7f0e", "symbol": "x"})
        label = "full budget" if status == "complete" else status.replace("_", " ")
        fig.add_trace(go.Scatter(
            x=rows[cost], y=rows["accuracy"], mode="markers", name=label,
            marker={"color": style["color"], "symbol": style["symbol"], "size": 8, "opacity": 0.6},
            error_y=_error_bars(rows) if status == "complete" else None,
            text=_hover(rows), hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=front[cost], y=front["accuracy"], mode="lines+markers", name=FRONT_TRACE,
        line={"shape": "hv", "color": "#111111", "width": 2},
        marker={"size": 12, "color": "#ffbf00", "line": {"color": "#111111", "width": 1.5}},
        error_y=_error_bars(front), text=_hover(front), hovertemplate="%{text}<extra></extra>"))
    fig.update_layout(title=f"Accuracy against {LABELS.get(cost, cost)}",
                      yaxis_title=LABELS["accuracy"], hovermode="closest",
                      legend={"orientation": "h", "y": -0.18})
    return _log_cost_axis(fig, cost)


def hypervolume_history(table: pd.DataFrame, specs: Sequence[ObjectiveSpec],
                        reference: Mapping[str, float]) -> pd.DataFrame:
    """Normalised hypervolume of the full-budget trials after each finished training.

    Trainings are ordered by finish time; `seconds` counts from the first one's start. The
    value is the dominated share of the box between `reference` and the ideal point (100%
    accuracy, zero cost), so runs on one reference point compare directly.
    """
    trained = table[table["status"].isin(TRAINED) & table["finished"].notna()].copy()
    columns = ["trials", "trial", "seconds", "hypervolume"]
    if trained.empty:
        return pd.DataFrame(columns=columns)
    trained["finished_at"] = pd.to_datetime(trained["finished"], format="ISO8601")
    start = pd.to_datetime(trained["started"], format="ISO8601").min()
    trained = trained.sort_values("finished_at")
    box = box_volume(specs, reference)
    rows = []
    for count in range(1, len(trained) + 1):
        done = trained.iloc[:count]
        last = done.iloc[-1]
        rows.append({"trials": count, "trial": int(last["trial"]),
                     "seconds": (last["finished_at"] - start).total_seconds(),
                     "hypervolume": hypervolume(done, specs, dict(reference)) / box})
    return pd.DataFrame(rows, columns=columns)


def plot_hypervolume(tables: Mapping[str, pd.DataFrame], specs: Sequence[ObjectiveSpec],
                     reference: Mapping[str, float], x: str = "trials") -> go.Figure:
    """Hypervolume against finished trainings (`x="trials"`) or wall time (`x="seconds"`), one
    line per table, all on the same reference point."""
    fig = go.Figure()
    for index, (name, table) in enumerate(tables.items()):
        history = hypervolume_history(table, specs, reference)
        xs = history[x] / 60.0 if x == "seconds" else history[x]
        fig.add_trace(go.Scatter(
            x=xs, y=history["hypervolume"], mode="lines+markers", name=name,
            line={"shape": "hv", "color": RUN_COLORS[index % len(RUN_COLORS)]},
            customdata=history["trial"],
            hovertemplate="after trial %{customdata}: %{y:.4f}<extra>" + html.escape(name)
                          + "</extra>"))
    ref = describe_reference(reference, specs)
    fig.update_layout(
        title=f"Hypervolume against {'wall time' if x == 'seconds' else 'finished trainings'}"
              f"<br><sup>reference point: {ref}; 1.0 = the whole box up to the ideal point</sup>",
        xaxis_title="minutes since the first trial started" if x == "seconds"
        else "finished trainings (in finish order)",
        yaxis_title="normalised hypervolume", showlegend=len(tables) > 1)
    return fig


def plot_group_fronts(table: pd.DataFrame, groups: Sequence[str]) -> go.Figure:
    """Each group's full-budget trials and its own front (accuracy against MACs) on one plot."""
    fig = go.Figure()
    done = full_budget(table, PLANE)
    grouped = done["groups"].fillna("").astype(str).str.len() > 0
    rest = done[~grouped]
    if len(rest):
        fig.add_trace(go.Scatter(x=rest["macs"], y=rest["accuracy"], mode="markers",
                                 name="in no group", marker={"color": "#c7c7c7", "size": 7},
                                 text=_hover(rest), hovertemplate="%{text}<extra></extra>"))
    for index, name in enumerate(groups):
        color = GROUP_COLORS[index % len(GROUP_COLORS)]
        rows = full_budget(group_members(table, name), PLANE)
        front = pareto_front(rows, PLANE).sort_values("macs") if len(rows) else rows
        fig.add_trace(go.Scatter(x=rows["macs"], y=rows["accuracy"], mode="markers", name=name,
                                 legendgroup=name, marker={"color": color, "size": 8,
                                                           "opacity": 0.55},
                                 text=_hover(rows), hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(_front_line(front, name, color, {"size": 11, "line": {"color": "#111111",
                                                                             "width": 1}}))
    return _fronts_layout(fig, "Group fronts: accuracy against MACs")


def plot_importance(importances: Mapping[str, Mapping[str, float]],
                    evaluator: str = "") -> go.Figure:
    """Parameter importance per objective (grouped horizontal bars)."""
    fig = go.Figure()
    params = sorted({p for values in importances.values() for p in values})
    for objective, values in importances.items():
        fig.add_trace(go.Bar(y=params, x=[values.get(p, 0.0) for p in params], orientation="h",
                             name=objective,
                             hovertemplate="%{y}: %{x:.3f}<extra>" + objective + "</extra>"))
    by = f"<br><sup>{evaluator}</sup>" if evaluator else ""
    fig.update_layout(title="Parameter importance for each objective (full-budget trials)" + by,
                      xaxis_title="importance (normalised to sum 1 per objective)",
                      barmode="group", height=max(300, 80 + 45 * len(params) * len(importances)))
    return fig


def plot_accuracy_by_parameter(table: pd.DataFrame, params: Sequence[str]) -> go.Figure:
    """Accuracy against each searched parameter (columns `param:NAME` of the table)."""
    columns = min(3, max(1, len(params)))
    rows_needed = max(1, math.ceil(len(params) / columns))
    fig = make_subplots(rows=rows_needed, cols=columns, subplot_titles=list(params),
                        horizontal_spacing=0.08, vertical_spacing=0.18)
    shown = table.dropna(subset=["accuracy"])
    for index, name in enumerate(params):
        row, col = index // columns + 1, index % columns + 1
        column = PARAM_PREFIX + name
        for status in ("complete", "stopped_early"):
            rows = shown[(shown["status"] == status) & shown[column].notna()]
            if status == "complete":
                rows = rows.drop_duplicates("config_id")
            style = STATUS_STYLE[status]
            fig.add_trace(go.Scatter(
                x=rows[column].astype(str) if rows[column].dtype == object else rows[column],
                y=rows["accuracy"], mode="markers",
                name="full budget" if status == "complete" else "stopped early",
                legendgroup=status, showlegend=index == 0,
                marker={"color": style["color"], "symbol": style["symbol"], "size": 7,
                        "opacity": 0.6},
                text=_hover(rows), hovertemplate="%{text}<extra></extra>"), row=row, col=col)
        fig.update_yaxes(title_text="accuracy (%)" if col == 1 else None, row=row, col=col)
    fig.update_layout(title="Accuracy against each searched parameter",
                      height=320 * rows_needed + 80, legend={"orientation": "h", "y": -0.08})
    return fig


def plot_compare_fronts(tables: Mapping[str, pd.DataFrame]) -> go.Figure:
    """Several runs' full-budget trials and fronts (accuracy against MACs) overlaid."""
    fig = go.Figure()
    for index, (name, table) in enumerate(tables.items()):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        done = full_budget(table, PLANE)
        front = pareto_front(done, PLANE).sort_values("macs") if len(done) else done
        fig.add_trace(go.Scatter(x=done["macs"], y=done["accuracy"], mode="markers",
                                 name=f"{name} trials", legendgroup=name,
                                 marker={"color": color, "size": 6, "opacity": 0.35},
                                 text=_hover(done), hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(_front_line(front, name, color, {"size": 10}))
    return _fronts_layout(fig, "Fronts: accuracy against MACs")


def plot_fidelity(fidelities: Sequence[BudgetFidelity]) -> go.Figure:
    """Each architecture's accuracy at a longer budget against its proxy accuracy, one colour
    per longer budget, front architectures as diamonds (hover gives the seeds behind a point)."""
    fig = go.Figure()
    for index, f in enumerate(fidelities):
        color = RUN_COLORS[index % len(RUN_COLORS)]
        rows = f.accuracies
        tau = "undefined" if f.tau is None else f"{f.tau:.2f}"
        for role, symbol in (("front", "diamond"), ("control", "circle")):
            picked = rows[rows["role"] == role]
            fig.add_trace(go.Scatter(
                x=picked["proxy_accuracy"], y=picked["accuracy"], mode="markers",
                name=f"{_epochs(f.epochs)} (tau {tau}, {f.architectures} archs): {role}",
                marker={"color": color, "symbol": symbol, "size": 10,
                        "line": {"color": "#111111", "width": 1}},
                text=[f"{cid} ({role}), {_count(m)} MACs, {int(s)} seed(s)" for cid, m, s in
                      zip(picked["config_id"], picked["macs"], picked["seeds"], strict=True)],
                hovertemplate="%{text}<br>proxy %{x:.2f}%, longer %{y:.2f}%<extra></extra>"))
    proxy = fidelities[0].proxy_epochs if fidelities else 0
    fig.update_layout(
        title=f"Accuracy at the longer budget against the proxy ({_epochs(proxy)})"
              f"<br><sup>a point is the mean over its seeds where it has several (hover); "
              f"Kendall's tau over the architectures trained at both budgets in the "
              f"legend</sup>",
        xaxis_title=f"accuracy at the proxy, {_epochs(proxy)} (%)",
        yaxis_title="accuracy at the longer budget (%)", legend={"orientation": "h", "y": -0.2})
    return fig


def _front_line(front: pd.DataFrame, name: str, color: str, marker: dict) -> go.Scatter:
    """One group's or run's front as a staircase over MACs, with seed error bars."""
    return go.Scatter(x=front["macs"], y=front["accuracy"], mode="lines+markers",
                      name=f"{name} front", legendgroup=name,
                      line={"shape": "hv", "color": color, "width": 2},
                      marker={"color": color, **marker}, error_y=_error_bars(front),
                      text=_hover(front), hovertemplate="%{text}<extra></extra>")


def _fronts_layout(fig: go.Figure, title: str) -> go.Figure:
    fig.update_layout(title=title, yaxis_title=LABELS["accuracy"],
                      legend={"orientation": "h", "y": -0.18})
    return _log_cost_axis(fig, "macs")


def _log_cost_axis(fig: go.Figure, cost: str) -> go.Figure:
    """The x axis as a log axis of `cost` whose every tick reads as a value with its unit."""
    title, tickformat = LOG_AXES.get(cost, (f"{cost} (log scale)", "~s"))
    xs = [x for trace in fig.data for x in (trace.x if trace.x is not None else ())
          if isinstance(x, (int, float)) and x > 0]
    decades = math.log10(max(xs) / min(xs)) if xs else 0.0
    # Ticks at 1, 2 and 5 of each decade over one to four decades, at the decades alone beyond,
    # so that labels never crowd; within one decade plotly's own linear steps (None) fit best.
    dtick = None if decades < 1 else "D2" if decades <= 4 else 1
    fig.update_xaxes(type="log", title_text=title, tickformat=tickformat, dtick=dtick)
    return fig


# ---- parameter importance from the study -----------------------------------------------------------
@dataclass
class Importances:
    values: dict[str, dict[str, float]]  # objective -> parameter -> importance
    notes: list[str]
    evaluator: str = ""  # the Optuna evaluator's class name


def param_importances(study: optuna.Study, specs: Sequence[ObjectiveSpec],
                      evaluator: optuna.importance.BaseImportanceEvaluator | None = None
                      ) -> Importances:
    """Optuna's importance of each searched parameter for each objective.

    Uses complete trials, one per architecture (reused results would count twice), and only
    parameters every such trial has and that took more than one value; the rest are noted.
    """
    trials, seen = [], set()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        config_id = trial_config_id(trial.user_attrs)
        if trial.user_attrs.get("status") == "complete" and config_id not in seen:
            seen.add(config_id)
            trials.append(trial)
    # Optuna 5's default, named here so the page can say which evaluator it was.
    evaluator = evaluator or optuna.importance.PedAnovaImportanceEvaluator()
    notes: list[str] = []
    if len(trials) < MIN_IMPORTANCE_TRIALS:
        notes.append(f"Parameter importance needs at least {MIN_IMPORTANCE_TRIALS} full-budget "
                     f"architectures; this run has {len(trials)}.")
        return Importances({}, notes)
    names = sorted({name for t in trials for name in t.params})
    conditional = [n for n in names if any(n not in t.params for t in trials)]
    constant = [n for n in names if n not in conditional
                and len({repr(t.params[n]) for t in trials}) == 1]
    usable = [n for n in names if n not in conditional and n not in constant]
    if conditional:
        notes.append("Left out of importance, as only some trials have them (conditional): "
                     + ", ".join(conditional) + ".")
    if constant:
        notes.append("Left out of importance, as every full-budget trial has the same value: "
                     + ", ".join(constant) + ".")
    if not usable:
        notes.append("No parameter varies across the full-budget trials: no importance to show.")
        return Importances({}, notes)
    # A private in-memory copy: one trial per architecture, same distributions.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        copy = optuna.create_study(directions=study.directions)
    finally:
        optuna.logging.set_verbosity(verbosity)
    copy.add_trials(trials)
    values = {}
    for index, spec in enumerate(specs):
        # Some evaluators rank for low values: turn maximised objectives into losses.
        sign = -1.0 if spec.maximize else 1.0
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values[spec.column] = dict(optuna.importance.get_param_importances(
                    copy, evaluator=evaluator, params=usable,
                    target=lambda t, i=index, s=sign: s * t.values[i]))
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            notes.append(f"Importance for {spec.column} could not be computed: {err}")
    return Importances(values, notes, type(evaluator).__name__)


def with_params(table: pd.DataFrame, study: optuna.Study) -> tuple[pd.DataFrame, list[str]]:
    """The table with a `param:NAME` column per searched parameter (NaN where a conditional
    parameter was not drawn), and the parameter names in the study's order."""
    params_by_trial = {t.number: t.params for t in study.get_trials(deepcopy=False)}
    names: list[str] = []
    for params in params_by_trial.values():
        names.extend(name for name in params if name not in names)
    out = table.copy()
    for name in names:
        out[PARAM_PREFIX + name] = [params_by_trial.get(n, {}).get(name) for n in out["trial"]]
    return out, names


# ---- a run, loaded once ------------------------------------------------------------------------------
@dataclass
class RunData:
    run: RunDir
    space: SearchSpace
    meta: dict[str, Any]
    study: optuna.Study
    search_table: pd.DataFrame  # as the search recorded it, one seed per architecture
    table: pd.DataFrame  # confirmations applied, searched parameters added
    params: list[str]
    specs: list[ObjectiveSpec]
    front: pd.DataFrame
    partial: str  # why the run is not finished; empty when it is
    unconfirmed: int = 0  # front architectures with one seed while others have more
    confirm_seeds: int = 1
    name: str = field(default="")
    # The run's hypervolume reference point (run.json) and where it comes from, in words.
    reference: dict[str, float] = field(default_factory=dict)
    reference_note: str = ""


def load_run(run_path: str | os.PathLike[str]) -> RunData:
    """Everything a report needs from a run directory; raises ReportError if nothing finished."""
    run = RunDir.open(run_path)
    space = load_run_space(run.space_file)
    study = run.load_study()
    search_table = trials_table(study)
    specs = objective_specs(space.objectives)
    if search_table.empty or full_budget(search_table, specs).empty:
        proposed = len(search_table)
        raise ReportError(f"{run.path}: no finished full-budget trial yet ({proposed} "
                          f"proposal{'s' if proposed != 1 else ''} so far): nothing to report")
    table, params = with_params(confirmed_table(run, space, search_table), study)
    front = pareto_front(table, specs)
    seeds = front["seeds"].astype(int)
    unconfirmed = int((seeds == 1).sum()) if (seeds > 1).any() else 0
    meta = run.read_meta()
    reference, note = run_reference(meta, space, search_table, specs)
    return RunData(run=run, space=space, meta=meta, study=study,
                   search_table=search_table, table=table, params=params, specs=specs,
                   front=front, partial=partial_reason(search_table, space, meta),
                   unconfirmed=unconfirmed, confirm_seeds=int(seeds.max()),
                   name=run.path.resolve().name, reference=reference, reference_note=note)


def run_reference(meta: Mapping[str, Any], space: SearchSpace, table: pd.DataFrame,
                  specs: Sequence[ObjectiveSpec]) -> tuple[dict[str, float], str]:
    """The run's reference point for its objectives and the accuracy-MACs plane, and a sentence
    saying where it comes from: run.json's, chosen when the run started (t2tsearch.pareto);
    for a run that stored none, the same rule with its trained trials as the first pool."""
    planes = [*specs, *(s for s in PLANE if s not in specs)]
    stored = meta.get("reference")
    if stored:
        reference = with_measured(stored, planes, table)
        note = ("Reference point, chosen when the run started (run.json): accuracy at chance "
                "level, each cost at the space's constraint or 1.1 x the largest cost of the "
                "first pool of feasible architectures")
    else:
        reference = with_measured(table_reference(space, table), planes, table)
        note = ("This run predates stored reference points: accuracy at chance level, each "
                "cost at the space's constraint or 1.1 x the largest cost of its trained trials")
    if any(s.column == "latency_ms" for s in planes):  # measured: no run start can place it
        note += "; latency at 1.1 x the largest measured"
    return reference, f"{note}: {describe_reference(reference, planes)}."


def describe_reference(reference: Mapping[str, float], specs: Sequence[ObjectiveSpec]) -> str:
    """'accuracy 10.0%, MACs 10M' for the objectives of `specs`."""
    parts = []
    for spec in specs:
        value = reference[spec.column]
        parts.append(f"accuracy {value:.1f}%" if spec.column == "accuracy"
                     else f"{LABELS.get(spec.column, spec.column)} {_count(value)}")
    return ", ".join(parts)


def partial_reason(table: pd.DataFrame, space: SearchSpace, meta: Mapping[str, Any]) -> str:
    """Why a run is still in progress or was cut short; empty for a finished run."""
    running = int((table["status"] == "running").sum())
    if running:
        return (f"{running} trial{'s' if running != 1 else ''} still running (or the run was "
                f"killed: resume it with t2tsearch run --resume)")
    sessions = meta.get("sessions") or []
    consumed = int(table["status"].isin(TRAINED).sum())
    if consumed >= space.search.trials or not sessions:
        return ""
    if "end" not in sessions[-1]:
        return (f"{consumed} of {space.search.trials} trials done and the last session has not "
                f"ended (still running, or killed: resume it with t2tsearch run --resume)")
    # Runs from before sessions recorded their outcome: as they always were, finished.
    if sessions[-1].get("outcome") == "interrupted":
        return (f"{consumed} of {space.search.trials} trials done: the last session was "
                f"interrupted (resume it with t2tsearch run --resume)")
    return ""


def run_scale(data: RunData) -> Scale:
    train = data.space.train
    return Scale(dataset=train.dataset, img_size=train.img_size, epochs=train.epochs,
                 seeds=data.confirm_seeds, train_images=train.train_subset)


def group_comparison(data: RunData, bootstrap: int = 1000) -> GroupComparison | None:
    """The space's groups compared; None without groups. Raises if no trial is in any group."""
    names = list(data.space.groups)
    if not names:
        return None
    table = data.table
    if not any(len(group_members(table, name)) for name in names):
        raise ReportError(f"{data.run.path}: none of its {len(table)} trials belongs to any of "
                          f"the space's groups ({', '.join(names)}); check their conditions in "
                          f"{data.run.space_file}")
    # Confirmed architectures bring every seed's run, which the interval resamples too.
    runs = seed_runs(data.search_table, same_budget_confirmations(data.run, data.space),
                     data.space.train.seed)
    return compare_groups(table, names, run_scale(data), bootstrap=bootstrap,
                          seed=data.space.search.seed, reference=data.reference,
                          seed_runs=runs)


# ---- the page --------------------------------------------------------------------------------------------
@dataclass
class Section:
    title: str
    body: str  # HTML


def build_report(run_path: str | os.PathLike[str], out: str | os.PathLike[str] | None = None,
                 *, images: bool = True, echo: Callable[[str], None] | None = None) -> Path:
    """Write the run's report.html (and plotly.min.js beside it, PNGs when a Chrome exists).

    Everything is computed before anything is written, and the page is written atomically, so
    bad input leaves no half-written file behind.
    """
    data = load_run(run_path)
    comparison = group_comparison(data)
    fidelities = run_fidelity(data.run, data.space, data.table, run_scale(data))
    target = Path(out) if out is not None else data.run.path / "report.html"
    importances = param_importances(data.study, data.specs)
    figures = run_figures(data, comparison, importances, fidelities)
    page = render_run_page(data, comparison, figures, importances.notes, fidelities)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_plotly_js(target.parent)
    atomic_write(target, page, prefix=".report-")
    if images:
        main = {name: fig for name, fig in figures.items() if name in PNG_FIGURES}
        notice = export_pngs(main, target.parent)
        if notice and echo:
            echo(notice)
    return target


PNG_FIGURES = ("front_macs", "front_params", "hypervolume_trials", "groups")


def run_figures(data: RunData, comparison: GroupComparison | None, importances: Importances,
                fidelities: Sequence[BudgetFidelity] = ()) -> dict[str, go.Figure]:
    table = data.table
    figures: dict[str, go.Figure] = {}
    run_plane = [s.column for s in data.specs]
    for cost in ("macs", "params"):
        # The run's own front when it was searched in exactly this plane.
        front = data.front if run_plane == ["accuracy", cost] else None
        figures[f"front_{cost}"] = plot_front(table, cost, front)
    for x in ("trials", "seconds"):
        figures[f"hypervolume_{x}"] = plot_hypervolume({data.name: data.search_table}, data.specs,
                                                       data.reference, x)
    if comparison is not None:
        figures["groups"] = plot_group_fronts(table, list(data.space.groups))
    if importances.values:
        figures["importance"] = plot_importance(importances.values, importances.evaluator)
    if data.params:
        figures["by_parameter"] = plot_accuracy_by_parameter(table, data.params)
    if fidelities:
        figures["fidelity"] = plot_fidelity(fidelities)
    return figures


def render_run_page(data: RunData, comparison: GroupComparison | None,
                    figures: Mapping[str, go.Figure], notes: Sequence[str] = (),
                    fidelities: Sequence[BudgetFidelity] = ()) -> str:
    space = data.space
    sections: list[Section] = []
    # Counted as the run's summary and progress lines count them, from the search's own table.
    summary = describe_counts(status_counts(data.search_table), data.search_table)
    reference = data.reference
    hv = hypervolume(data.search_table, data.specs, reference) / box_volume(data.specs, reference)
    objectives = ", ".join(f"{o.direction} {o.metric}" for o in space.objectives)
    intro = (f"<p>{len(data.search_table)} proposals: {html.escape(summary)}. "
             f"Objectives: {objectives}. "
             f"The Pareto front holds {len(data.front)} full-budget architecture"
             f"{'s' if len(data.front) != 1 else ''}; normalised hypervolume {hv:.4f}.</p>")
    if data.confirm_seeds > 1:
        intro += (f"<p>Front confirmed on up to {data.confirm_seeds} seeds: accuracies of "
                  f"confirmed architectures are means over seeds, error bars one standard "
                  f"deviation.")
        if data.unconfirmed:
            intro += (f" {data.unconfirmed} front architecture(s) have one seed only (the front "
                      f"moved): run <code>t2tsearch confirm</code> again to confirm them.")
        intro += "</p>"
    fidelity_line = _fidelity_line(data, fidelities)
    if comparison is None:
        intro += fidelity_line
    sections.append(Section("Summary", intro))
    if comparison is not None:
        sections.append(Section("Verdict", _verdict_html(comparison) + fidelity_line
                                + _figure(figures["groups"], "groups")
                                + _group_table(comparison)))
    sections.append(Section("Proxy fidelity", _fidelity_html(data, fidelities, figures)))
    sections.append(Section("Pareto front", _figure(figures["front_macs"], "front_macs")
                            + _front_table(data) + _figure(figures["front_params"],
                                                           "front_params")))
    sections.append(Section("Search progress", _figure(figures["hypervolume_trials"],
                                                       "hypervolume_trials")
                            + _figure(figures["hypervolume_seconds"], "hypervolume_seconds")
                            + f"<p class='note' id='reference'>"
                              f"{html.escape(data.reference_note)}</p>"))
    parts = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in notes)
    if figures.get("importance") is not None:
        parts += _figure(figures["importance"], "importance")
    if "by_parameter" in figures:
        parts += _figure(figures["by_parameter"], "by_parameter")
    sections.append(Section("Parameters", parts))
    sections.append(Section("Settings and versions", _settings_html(data)))
    title = f"t2tsearch report: {data.name}"
    banner = ""
    if data.partial:
        banner = (f"<div class='partial' id='partial'>Partial run: {html.escape(data.partial)}. "
                  f"This report shows the trials finished so far.</div>")
    subtitle = (f"space <b>{html.escape(space.name)}</b>: {html.escape(space.description)}"
                f"<br>run folder {html.escape(str(data.run.path.resolve()))}")
    return _page(title, subtitle, banner, sections)


def _figure(fig: go.Figure | None, name: str) -> str:
    if fig is None:
        return ""
    div = fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}",
                      config={"responsive": True, "displaylogo": False})
    return f"<div class='figure' data-figure='{name}'>{div}</div>"


def _verdict_html(comparison: GroupComparison) -> str:
    text = f"<p class='verdict' id='verdict'>{html.escape(comparison.verdict)}</p>"
    if comparison.caution:
        text += f"<p class='caution'>{html.escape(comparison.caution)}</p>"
    return text


def _fidelity_line(data: RunData, fidelities: Sequence[BudgetFidelity]) -> str:
    """The sentence beside the verdict: the measured fidelity, or the command that measures it."""
    if fidelities:
        text = "; ".join(f.sentence() for f in fidelities)
        return f"<p class='fidelity' id='fidelity'>{html.escape(text)}.</p>"
    sentence = html.escape(not_measured_sentence(data.run.path, data.space))
    # The command in backticks becomes code on the page.
    head, command, _ = sentence.split("`")
    return f"<p class='fidelity' id='fidelity'>{head}<code>{command}</code>.</p>"


def _fidelity_html(data: RunData, fidelities: Sequence[BudgetFidelity],
                   figures: Mapping[str, go.Figure]) -> str:
    proxy = data.space.train.epochs
    explain = (f"<p class='note'>The search ranks architectures after {_epochs(proxy)}. "
               f"<code>t2tsearch confirm RUN --epochs N</code> trains the front and a seeded "
               f"control sample of other architectures (drawn from every group) for N epochs; "
               f"each row below compares the same architectures at both budgets: Kendall's tau "
               f"of their accuracies (1: same order, 0: unrelated), how many of those "
               f"non-dominated at the proxy (accuracy against MACs) stay so, and each pair of "
               f"groups compared on these architectures at both budgets (holds: same winner; "
               f"flips: opposite winners; undecided: either budget cannot tell). The verdict "
               f"above stays on the search's own budget.</p>")
    if not fidelities:
        return _fidelity_line(data, fidelities) + explain
    head = ["budget", "architectures", "Kendall tau (p)", "proxy front still non-dominated",
            "group verdict at this budget", "proxy → longer"]
    rows = []
    for f in fidelities:
        roles = f.accuracies["role"].value_counts()
        who = f"{f.architectures} ({roles.get('front', 0)} front, {roles.get('control', 0)} controls)"
        if f.failed:
            who += f"; {f.failed} training(s) failed"
        tau = "-" if f.tau is None else f"{f.tau:.2f} (p = {f.p_value:.2g})"
        verdicts = "; ".join(_short_difference(p.longer) for p in f.pairs) or "no groups"
        statuses = "; ".join(p.describe() for p in f.pairs) or "-"
        rows.append([f"{_epochs(f.epochs)} ({f.epochs / proxy:g}x the proxy)", who, tau,
                     f"{f.front_kept} of {f.proxy_front}", verdicts, statuses])
    body = _table(head, rows, "fidelity-table") + explain
    for f in fidelities:
        if f.comparison is not None:
            body += (f"<p class='note'>At {_epochs(f.epochs)}, on these {f.architectures} "
                     f"architectures: {html.escape(f.comparison.verdict)}</p>")
    return body + _figure(figures.get("fidelity"), "fidelity")


def _short_difference(diff: MatchedDifference) -> str:
    if diff.difference is None:
        return f"{diff.first} vs {diff.second}: undecided"
    shown = (f"{diff.first} minus {diff.second} {diff.difference:+.1f} points "
             f"(95% CI {diff.ci_low:+.1f} to {diff.ci_high:+.1f})")
    return shown + (f", {diff.winner} ahead" if diff.decided else ", undecided")


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _group_table(comparison: GroupComparison) -> str:
    head = ["group", "trials", "full-budget architectures", "MAC range", "best accuracy (%)",
            "hypervolume (common reference)", "own front", "points on the joint front"]
    box = box_volume(PLANE, comparison.reference)
    rows = []
    for g in comparison.groups:
        span = "-" if g.macs_range is None else f"{_count(g.macs_range[0])}-{_count(g.macs_range[1])}"
        best = "-" if g.best_accuracy is None else f"{g.best_accuracy:.2f}"
        rows.append([g.name, g.trials, g.full_budget, span, best, f"{g.hypervolume / box:.4f}",
                     g.front_size, f"{g.joint_front_points} of {comparison.joint_front_size}"])
    lines = []
    for diff in comparison.differences:
        if diff.difference is None:
            lines.append(f"{diff.first} vs {diff.second}: undecided, {diff.undecided_because}")
        else:
            lines.append(f"{diff.first} minus {diff.second} at matched MACs "
                         f"({_count(diff.macs_low)}-{_count(diff.macs_high)}): "
                         f"{diff.difference:+.2f} points, bootstrap 95% CI "
                         f"{diff.ci_low:+.2f} to {diff.ci_high:+.2f}"
                         + (f" (undecided: {diff.undecided_because})" if not diff.decided else ""))
    notes = "".join(f"<p class='note'>{html.escape(line)}</p>" for line in lines)
    return _table(head, rows, "groups-table") + notes


def _front_table(data: RunData) -> str:
    confirmed = data.confirm_seeds > 1
    head = ["trial", "id", "accuracy (%)"]
    if confirmed:
        head += ["± sd", "seeds", "min-max"]
    head += ["MACs", "params", "latency (ms)", "epochs", "groups", "architecture"]
    rows = []
    for _, row in data.front.iterrows():
        cells: list[Any] = [int(row["trial"]), row["config_id"], f"{row['accuracy']:.2f}"]
        if confirmed:
            several = row["seeds"] > 1
            cells += [f"{row['accuracy_std']:.2f}" if several else "", int(row["seeds"]),
                      f"{row['accuracy_min']:.1f}-{row['accuracy_max']:.1f}" if several else ""]
        latency = row.get("latency_ms")
        cells += [int(row["macs"]), int(row["params"]),
                  f"{latency:.2f}" if pd.notna(latency) else "", int(row["epochs"]),
                  row["groups"] if isinstance(row["groups"], str) else "",
                  ArchConfig.from_json(row["arch"]).short()]
        rows.append(cells)
    note = ("<p class='note'>Click a column header to sort. Export an architecture with "
            "<code>t2tsearch export RUN --trial N --out arch.yaml</code>.</p>")
    return _table(head, rows, "front-table", sortable=True) + note


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], table_id: str,
           sortable: bool = False) -> str:
    cls = " class='sortable'" if sortable else ""
    out = [f"<table id='{table_id}'{cls}><thead><tr>"]
    out += [f"<th>{html.escape(str(h))}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for row in rows:
        cells = []
        for value in row:
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            # Sort on the raw number, show it with separators.
            key = f" data-sort='{value}'" if isinstance(value, (int, float)) else ""
            cells.append(f"<td{key}>{html.escape(str(shown))}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _settings_html(data: RunData) -> str:
    space, meta = data.space, data.meta
    s, t = space.search, space.train
    settings = [
        ("space", f"{space.name} ({data.run.space_file})"),
        ("objectives", ", ".join(f"{o.direction} {o.metric}" for o in space.objectives)),
        ("parameters", "; ".join(f"{p}: {param.describe()}" for p, param in
                                 space.parameters.items())),
        ("constraints", space.constraints.describe()),
        ("groups", "; ".join(f"{n}: {c}" for n, c in space.groups.items()) or "none"),
        ("search", f"{s.sampler} sampler, {s.trials} trials, seed {s.seed}, concurrency "
                   f"{s.concurrency}, {s.cpus_per_trial:g} cpu + {s.gpus_per_trial:g} gpu per "
                   f"trial, scheduler {s.effective_scheduler} (grace {s.grace_period}, factor "
                   f"{s.reduction_factor:g})"),
        ("train budget", ", ".join(f"{k} {v}" for k, v in t.model_dump(mode="json").items()
                                   if v is not None)),
        ("split seed", f"{t.split_seed}: every seed is measured on the same validation images"
         if t.split_seed is not None else
         f"follows train.seed (run made before split_seed existed): the search's trials used "
         f"split {t.seed}; confirmations are pinned to it"),
    ]
    for index, session in enumerate(meta.get("sessions") or [], start=1):
        settings.append((f"session {index}", f"{session.get('start', '?')} to "
                                              f"{session.get('end', '(not ended)')}: "
                                              f"{' '.join(session.get('command', []))}"))
    for index, session in enumerate(meta.get("confirm_sessions") or [], start=1):
        settings.append((f"confirm {index}", f"{session.get('start', '?')} to "
                                             f"{session.get('end', '(not ended)')}: "
                                             f"{session.get('seeds')} seeds, "
                                             f"{session.get('epochs', data.space.train.epochs)}"
                                             f" epochs, {session.get('controls', 0)} controls, "
                                             f"{session.get('jobs')} trainings"))
    versions = [(k, meta[k]) for k in ("t2tsearch", "python", "torch", "timm", "optuna", "ray",
                                       "cuda", "host", "platform", "seed") if k in meta]
    versions.append(("plotly", _plotly_version()))
    if meta.get("command"):
        versions.append(("command", " ".join(meta["command"])))
    body = _table(["setting", "value"], settings, "settings-table")
    body += "<h3>Versions</h3>" + _table(["package", "version"], versions, "versions-table")
    body += ("<details><summary>space.yaml as run</summary><pre>"
             + html.escape(data.run.space_file.read_text()) + "</pre></details>")
    return body


def _plotly_version() -> str:
    import plotly

    return plotly.__version__


STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em;
       color: #222; }
h1 { margin-bottom: 0.2em; } .subtitle { color: #555; margin-top: 0; }
.partial { background: #fff3cd; border: 2px solid #e0a800; padding: 0.7em 1em; margin: 1em 0;
           font-weight: bold; }
.verdict { font-size: 1.15em; background: #eef5ff; border-left: 5px solid #1f77b4;
           padding: 0.7em 1em; }
.caution { background: #fdf0e6; border-left: 5px solid #ff7f0e; padding: 0.5em 1em; }
.note { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } table.sortable th { cursor: pointer; user-select: none; }
table.sortable th:after { content: " \\2195"; color: #aaa; }
.figure { margin: 1em 0; } pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""

# Sort a table by the clicked column: numbers by data-sort, text by its content.
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, index) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var ascending = th.dataset.order !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { delete h.dataset.order; });
    th.dataset.order = ascending ? 'asc' : 'desc';
    var key = function (row) {
      var cell = row.cells[index];
      return cell.dataset.sort !== undefined ? parseFloat(cell.dataset.sort) : cell.textContent;
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var order = (typeof x === 'number' && typeof y === 'number') ? x - y
                  : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
"""


def _page(title: str, subtitle: str, banner: str, sections: Sequence[Section]) -> str:
    body = "".join(f"<section><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in sections)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{STYLE}</style>"
            f"<script src='{PLOTLY_JS}'></script></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='subtitle'>{subtitle}</p>{banner}{body}"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")


# ---- files: plotly.js, atomic writes, PNGs ----------------------------------------------------------
def write_plotly_js(folder: Path) -> Path:
    """plotly.min.js beside the page, so it opens offline; rewritten only when it differs."""
    from plotly.offline import get_plotlyjs

    path = folder / PLOTLY_JS
    script = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(script.encode()):
        atomic_write(path, script, prefix=".report-")
    return path


CHROME_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


def find_chrome() -> str | None:
    """A Chrome/Chromium kaleido can drive (BROWSER_PATH first, as kaleido's own lookup does)."""
    given = os.environ.get("BROWSER_PATH")
    if given and Path(given).is_file():
        return given
    for name in CHROME_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def export_pngs(figures: Mapping[str, go.Figure], folder: Path) -> str:
    """Write NAME.png for each figure with kaleido; returns a one-line notice when skipped."""
    chrome = find_chrome()
    if chrome is None:
        return "PNG images skipped: no Chrome or Chromium found (apt-get install chromium)"
    try:
        import kaleido
    except ImportError:
        return "PNG images skipped: kaleido is not installed (pip install kaleido)"
    os.environ.setdefault("BROWSER_PATH", chrome)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One browser for all images: ~0.15 s each instead of ~3 s.
            kaleido.start_sync_server(silence_warnings=True)
            try:
                for name, fig in figures.items():
                    png = fig.to_image(format="png", width=1000, height=560, scale=1)
                    atomic_write(folder / f"{name}.png", png, prefix=".report-")
            finally:
                kaleido.stop_sync_server(silence_warnings=True)
    except Exception as err:  # noqa: BLE001 - a broken browser must not cost the report
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"PNG images skipped: kaleido could not render ({first})"
    return ""


# ---- comparing runs -------------------------------------------------------------------------------------
def build_comparison(run_paths: Sequence[str | os.PathLike[str]],
                     out: str | os.PathLike[str]) -> Path:
    """One page overlaying several runs' fronts and hypervolume curves on a common reference."""
    if len(run_paths) < 2:
        raise ReportError("compare: give at least two runs")
    runs = [load_run(path) for path in run_paths]
    names = _unique_names([r.name for r in runs])
    tables = {name: r.table for name, r in zip(names, runs, strict=True)}
    searched = {name: r.search_table for name, r in zip(names, runs, strict=True)}
    # Runs may optimise different things; they all share accuracy and MACs.
    # One reference from the runs' own (each chosen when its run started): the lowest accuracy
    # and the largest MACs, so every run's box fits inside it.
    reference = common_reference([r.reference for r in runs], PLANE)
    box = box_volume(PLANE, reference)
    figures = {"fronts": plot_compare_fronts(tables),
               "hypervolume_trials": plot_hypervolume(searched, PLANE, reference, "trials"),
               "hypervolume_seconds": plot_hypervolume(searched, PLANE, reference, "seconds")}
    head = ["run", "space", "sampler", "scheduler", "trials", "full-budget", "front (acc-MACs)",
            "best accuracy (%)", "hypervolume", "train budget", "status"]
    rows = []
    for name, data in zip(names, runs, strict=True):
        done = full_budget(data.table, PLANE)
        s, t = data.space.search, data.space.train
        rows.append([name, data.space.name, s.sampler, s.effective_scheduler, len(data.table), len(done),
                     len(pareto_front(done, PLANE)), f"{done['accuracy'].max():.2f}",
                     f"{hypervolume(data.search_table, PLANE, reference) / box:.4f}",
                     f"{t.dataset} {t.img_size}px {t.epochs} epochs",
                     f"partial: {data.partial}" if data.partial else "finished"])
    ref_text = (f"{describe_reference(reference, PLANE)} (the lowest accuracy and the largest "
                f"MACs of the runs' own reference points)")
    sections = [
        Section("Runs", _table(head, rows, "runs-table", sortable=True)
                + f"<p class='note'>Common reference point: {ref_text}.</p>"),
        Section("Fronts", _figure(figures["fronts"], "fronts")),
        Section("Hypervolume", _figure(figures["hypervolume_trials"], "hypervolume_trials")
                + _figure(figures["hypervolume_seconds"], "hypervolume_seconds")),
    ]
    partial = [n for n, r in zip(names, runs, strict=True) if r.partial]
    banner = ""
    if partial:
        banner = (f"<div class='partial' id='partial'>Partial runs: {html.escape(', '.join(partial))}"
                  f" are not finished.</div>")
    paths = "<br>".join(html.escape(str(r.run.path.resolve())) for r in runs)
    page = _page("t2tsearch comparison: " + " vs ".join(names), paths, banner, sections)
    target = Path(out)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_plotly_js(target.parent)
    atomic_write(target, page, prefix=".report-")
    return target


def _unique_names(names: Sequence[str]) -> list[str]:
    out = []
    for index, name in enumerate(names):
        out.append(name if names.count(name) == 1 else f"{name} ({index + 1})")
    return out
