"""Plotly figures of a run's trials table: fronts, hypervolume curves, importance, accuracy by
parameter, proxy fidelity."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from t2tsearch.fidelity import BudgetFidelity
from t2tsearch.groups import PLANE, group_members
from t2tsearch.pareto import ObjectiveSpec, box_volume, full_budget, hypervolume, pareto_front
from t2tsearch.report.text import (
    LABELS,
    describe_arch,
    describe_reference,
    epochs_text,
    short_count,
)
from t2tsearch.results.tables import CONSUMED, PARAM_PREFIX

FRONT_TRACE = "Pareto front"  # the name the browser test looks the front trace up by
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
# Cost axes are logarithmic. Without a tickformat plotly labels the ticks between two powers of
# ten with a bare "2" and "5"; with one every tick carries its value ("2M", "5M", "10M").
SI_NOTE = "k = 10³, M = 10⁶, G = 10⁹"
LOG_AXES = {
    "macs": ("MACs per image (log scale; " + SI_NOTE + ")", "~s"),
    "params": ("parameters (log scale; " + SI_NOTE + ")", "~s"),
    "latency_ms": ("latency (ms, log scale)", "~g"),
}


def _hover(rows: pd.DataFrame) -> list[str]:
    texts = []
    for _, row in rows.iterrows():
        accuracy = f"{row['accuracy']:.2f}%" if pd.notna(row.get("accuracy")) else "-"
        if row.get("seeds", 1) and row.get("seeds", 1) > 1:
            accuracy += f" ± {row['accuracy_std']:.2f} (mean of {int(row['seeds'])} seeds)"
        groups = row.get("groups") if isinstance(row.get("groups"), str) else ""
        texts.append(
            f"<b>trial {row['trial']}</b> ({row['config_id']}, {row['status']})<br>"
            f"accuracy {accuracy} | {short_count(row['macs'])} MACs | "
            f"{short_count(row['params'])} params"
            + (f"<br>groups: {html.escape(groups)}" if groups else "")
            + "<br>" + describe_arch(row["arch"]))
    return texts


def _plane(cost: str) -> list[ObjectiveSpec]:
    return [ObjectiveSpec("accuracy", True), ObjectiveSpec(cost, False)]


def _error_bars(rows: pd.DataFrame) -> dict[str, Any] | None:
    if "accuracy_std" not in rows or not (rows.get("seeds", pd.Series(dtype=int)) > 1).any():
        return None
    return {"type": "data", "array": rows["accuracy_std"].fillna(0.0).tolist(), "visible": True}


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
                name=f"{epochs_text(f.epochs)} (tau {tau}, {f.architectures} archs): {role}",
                marker={"color": color, "symbol": symbol, "size": 10,
                        "line": {"color": "#111111", "width": 1}},
                text=[f"{cid} ({role}), {short_count(m)} MACs, {int(s)} seed(s)" for cid, m, s in
                      zip(picked["config_id"], picked["macs"], picked["seeds"], strict=True)],
                hovertemplate="%{text}<br>proxy %{x:.2f}%, longer %{y:.2f}%<extra></extra>"))
    proxy = fidelities[0].proxy_epochs if fidelities else 0
    fig.update_layout(
        title=f"Accuracy at the longer budget against the proxy ({epochs_text(proxy)})"
              f"<br><sup>a point is the mean over its seeds where it has several (hover); "
              f"Kendall's tau over the architectures trained at both budgets in the "
              f"legend</sup>",
        xaxis_title=f"accuracy at the proxy, {epochs_text(proxy)} (%)",
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
