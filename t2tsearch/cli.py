"""The `t2tsearch` command: parses arguments, calls the library, prints. No logic of its own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from t2tsearch.arch import ArchConfig
from t2tsearch.budget import DEFAULT_VAL_SIZE
from t2tsearch.errors import UserError

if TYPE_CHECKING:
    from t2tsearch.results.run import Run
    from t2tsearch.space.schema import SearchSpace

app = typer.Typer(
    name="t2tsearch",
    help="Design-space exploration for Tokens-to-Token ViTs.",
    add_completion=False,
    no_args_is_help=True,
    # User errors are one line (see main); anything else is a bug and keeps its plain traceback.
    pretty_exceptions_enable=False,
)


# Threads for torch in the commands that train, count or time outside Ray trials. torch's default
# is one OpenMP thread per core, and beside another busy process those threads spin against each
# other for a shared core: a 10-epoch training that took 56 s at one thread ran past 17 minutes.
# One thread has the best worst case on 2 cores (benchmarks/bench_threads.py, README); --threads
# asks for more where the machine is known to be free.
DEFAULT_THREADS = 1
ThreadsOption = Annotated[int | None, typer.Option(
    min=1, help=f"CPU threads for torch (default {DEFAULT_THREADS}: never collapses on a "
                "shared machine; more only where the cores are free).")]


def use_threads(threads: int | None) -> int:
    """Torch's intra-op threads for this command: --threads, else OMP_NUM_THREADS where the user
    set it, else DEFAULT_THREADS. Set through OMP_NUM_THREADS, which torch reads when it is
    imported, so a command that never needs torch does not import it here."""
    import os

    given = os.environ.get("OMP_NUM_THREADS", "")
    chosen = threads or (int(given) if given.isdigit() and int(given) > 0 else DEFAULT_THREADS)
    os.environ["OMP_NUM_THREADS"] = str(chosen)
    if "torch" in sys.modules:  # already imported (the command called in-process)
        sys.modules["torch"].set_num_threads(chosen)
    return chosen


def load_arch(name_or_file: str) -> ArchConfig:
    """A preset name or a YAML/JSON file holding one ArchConfig."""
    from pydantic import ValidationError

    from t2tsearch.models.presets import PRESETS, get_preset

    if name_or_file in PRESETS:
        return PRESETS[name_or_file]
    path = Path(name_or_file)
    if path.suffix.lower() in (".yaml", ".yml", ".json") or path.exists():
        if not path.is_file():
            raise UserError(f"{path}: no such file")
        import yaml

        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise UserError(f"{path}:{where} not valid YAML: {getattr(err, 'problem', err)}") from None
        if isinstance(data, dict) and "arch" in data:  # an exported trial: {arch: ..., ...}
            data = data["arch"]
        try:
            return ArchConfig.model_validate(data)
        except ValidationError as err:
            raise UserError(f"{path}: {format_validation_error(err)}") from None
    return get_preset(name_or_file)


def format_validation_error(err: Exception) -> str:
    """First problem of a pydantic ValidationError as 'key.path: reason'."""
    errors = err.errors()  # type: ignore[attr-defined]
    first = errors[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first['msg']}{more}"


def with_overrides(cfg: ArchConfig, img_size: int | None, num_classes: int | None,
                   in_chans: int | None = None) -> ArchConfig:
    changes = {"img_size": img_size, "num_classes": num_classes, "in_chans": in_chans}
    return cfg.replace(**{key: value for key, value in changes.items() if value is not None})


def _print_json(payload: object) -> None:
    typer.echo(json.dumps(payload, indent=2))


# ---- foundation: presets and cost ------------------------------------------------------------
@app.command()
def presets(
    img_size: Annotated[int, typer.Option(help="Input resolution.")] = 224,
    num_classes: Annotated[int, typer.Option(help="Classifier outputs.")] = 1000,
    in_chans: Annotated[int, typer.Option(help="Input channels.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    threads: ThreadsOption = None,
) -> None:
    """List the official T2T-ViT models with their parameters and MACs."""
    use_threads(threads)
    from t2tsearch.cost import count_cost
    from t2tsearch.models.presets import PRESETS

    rows = []
    for name, preset in PRESETS.items():
        cfg = with_overrides(preset, img_size, num_classes, in_chans)
        problems = cfg.problems()
        cost = None if problems else count_cost(cfg)
        rows.append((name, cfg, cost, problems))
    if as_json:
        _print_json([
            {"name": name, "arch": cfg.to_dict(), "id": cfg.id,
             "cost": cost.to_dict() if cost else None, "problems": problems}
            for name, cfg, cost, problems in rows
        ])
        return
    typer.echo(f"T2T-ViT presets at {img_size}x{img_size}, {in_chans} channels, {num_classes} classes")
    typer.echo(f"{'name':<20} {'params':>9} {'MACs':>9} {'tokens':>6}  architecture")
    for name, cfg, cost, problems in rows:
        if cost is None:
            typer.echo(f"{name:<20} {'-':>9} {'-':>9} {'-':>6}  infeasible: {problems[0]}")
        else:
            typer.echo(f"{name:<20} {cost.mparams:>8.2f}M {cost.gmacs:>8.3f}G "
                       f"{cfg.num_tokens:>6}  {cfg.short()}")


@app.command()
def cost(
    arch: Annotated[str, typer.Argument(help="Preset name or YAML/JSON file with an ArchConfig.")],
    img_size: Annotated[int | None, typer.Option(help="Override the input resolution.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Override the classifier outputs.")] = None,
    in_chans: Annotated[int | None, typer.Option(help="Override the input channels.")] = None,
    latency: Annotated[bool, typer.Option("--latency", help="Also measure inference latency "
                                          "(batch 1 and --batch-size, median of 20 runs).")] = False,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch for --latency.")] = 128,
    device: Annotated[str, typer.Option(help="Device for --latency: auto, cpu, cuda, cuda:1.")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    threads: ThreadsOption = None,
) -> None:
    """Count one architecture's parameters and MACs (and measure its latency with --latency)."""
    use_threads(threads)
    from t2tsearch.cost import count_cost, measure_latency

    cfg = with_overrides(load_arch(arch), img_size, num_classes, in_chans).check()
    result = count_cost(cfg)
    timing = measure_latency(cfg, batch_size, device) if latency else None
    if as_json:
        _print_json({"name": arch, "id": cfg.id, "arch": cfg.to_dict(), "cost": result.to_dict(),
                     **({"latency": timing.to_dict()} if timing else {})})
        return
    typer.echo(f"{arch} ({cfg.id}): {cfg.short()}")
    typer.echo(f"  input            {cfg.in_chans}x{cfg.img_size}x{cfg.img_size}, "
               f"{cfg.num_classes} classes, {cfg.num_tokens} tokens")
    typer.echo(f"  params           {result.params:,} ({result.mparams:.2f}M; "
               f"{result.trainable_params:,} trainable)")
    typer.echo(f"  MACs             {result.macs:,} ({result.gmacs:.3f}G)")
    uncounted = ", ".join(f"{op.removeprefix('aten::')} x{n}" for op, n in result.uncounted_ops.items())
    typer.echo(f"  not counted      {uncounted or 'nothing'}")
    if timing is not None:
        typer.echo(f"  latency          {timing.ms_b1:.2f} ms at batch 1, {timing.ms_batch:.1f} ms at "
                   f"batch {timing.batch_size} on {timing.device} "
                   f"({timing.throughput:,.0f} img/s)")


# ---- search spaces: validate and sample ----
def _span(span: tuple[int, int] | None) -> str:
    from t2tsearch.space.counts import format_count

    return "-" if span is None else f"{format_count(span[0])}..{format_count(span[1])}"


# The fields of ArchConfig.short() and the parameters that can change each one.
_SUMMARY_FIELDS = {
    "mixer": ("t2t.mixer",), "token dim": ("t2t.token_dim",), "depth": ("backbone.depth",),
    "width": ("backbone.embed_dim", "backbone.head_dim"), "heads": ("backbone.num_heads",),
    "mlp ratio": ("backbone.mlp_ratio",), "block": ("backbone.block",),
}


def describe_base(space: SearchSpace) -> str:
    """The base in ArchConfig.short()'s form with every searched field shown as '*', followed
    by what each one ranges over: the base's own value of a searched field is never sampled
    unless the parameter has a `when` (its value where the condition fails)."""
    from t2tsearch.conditions import config_fields

    base = space.base_config
    params = space.parameters
    fixed = {"mixer": base.t2t.mixer, "token dim": base.t2t.token_dim,
             "depth": base.backbone.depth, "width": base.backbone.embed_dim,
             "heads": base.backbone.num_heads, "mlp ratio": base.backbone.mlp_ratio,
             "block": base.backbone.block}

    def domain(path: str) -> list[Any]:
        param = params[path]
        values = param.values()  # a lazy range for an integer range: never listed whole
        if values is None or len(values) > 64:  # continuous or long: its ends stand for it
            dom = param.int_range or param.float_range
            values = [dom.low, dom.high]
        values = list(values)
        # head_dim is no field of its own: the width branch below adds the base's width.
        where_not = param.when and path != "backbone.head_dim"
        return values + ([config_fields(base)[path]] if where_not else [])

    searched: dict[str, list[Any]] = {}
    for field, paths in _SUMMARY_FIELDS.items():
        if field == "width" and "backbone.head_dim" in params:
            # build_config sets the width to head_dim x num_heads.
            heads = domain("backbone.num_heads") if "backbone.num_heads" in params \
                else [base.backbone.num_heads]
            widths = [d * h for d in domain("backbone.head_dim") for h in heads]
            searched[field] = widths + ([fixed["width"]] if params["backbone.head_dim"].when
                                        else [])
        elif any(path in params for path in paths):
            searched[field] = domain(next(path for path in paths if path in params))
    splits_searched = any(path.startswith(("t2t.soft_splits.", "t2t.num_splits", "t2t.depth"))
                          for path in params)
    shown = {field: "*" if field in searched else value for field, value in fixed.items()}
    splits = "*" if splits_searched else ",".join(str(s) for s in base.t2t.soft_splits)
    text = (f"{shown['mixer']}[{splits}]/{shown['token dim']} d{shown['depth']} "
            f"w{shown['width']} h{shown['heads']} r{_value(shown['mlp ratio'])} {shown['block']}")
    if not searched and not splits_searched:
        return text
    ranges = [f"{field} {_values(values)}" for field, values in searched.items()]
    if splits_searched:
        ranges.insert(0, "soft splits (see parameters)")
    return f"{text}; * searched: " + ", ".join(ranges)


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _values(values: list[Any]) -> str:
    """Distinct values as {a, b, c}; more than four numbers as their range low..high."""
    distinct = sorted(set(values), key=lambda v: (isinstance(v, str), v))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in distinct)
    if numeric and len(distinct) > 4:
        return f"{_value(distinct[0])}..{_value(distinct[-1])}"
    return "{" + ", ".join(_value(v) for v in distinct) + "}"


@app.command()
def validate(
    space_file: Annotated[str, typer.Argument(metavar="SPACE", help="Search space YAML file.")],
    samples: Annotated[int, typer.Option(min=1, help="Random samples to survey.")] = 1000,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: search.seed).")] = None,
    cost_budget: Annotated[float, typer.Option(
        min=0, help="Seconds to spend counting costs; the rest of the samples go uncounted.")] = 15.0,
    threads: ThreadsOption = None,
) -> None:
    """Check a search space and survey it: size, feasible fraction, params and MACs."""
    use_threads(threads)
    from t2tsearch.space.counts import format_count
    from t2tsearch.space.survey import validate_space

    space, survey = validate_space(space_file, samples, seed, cost_budget)
    base = space.base_config
    base_name = space.base if isinstance(space.base, str) else "custom"
    typer.echo(f"{space_file}: space '{space.name}' is valid")
    if space.description:
        typer.echo(f"  {' '.join(space.description.split())}")
    typer.echo(f"  data         {space.train.dataset}, {base.in_chans}x{base.img_size}x{base.img_size}, "
               f"{base.num_classes} classes")
    typer.echo(f"  base         {base_name}: {describe_base(space)}")
    typer.echo(f"  parameters   {len(space.parameters)}")
    width = max(len(path) for path in space.parameters)
    for path, param in space.parameters.items():
        typer.echo(f"    {path:<{width}}  {param.describe()}")
    typer.echo(f"  constraints  {space.constraints.describe()}")
    typer.echo("  objectives   " + ", ".join(f"{o.direction} {o.metric}" for o in space.objectives))
    s = space.search
    typer.echo(f"  search       {s.sampler}, {s.trials} trials, seed {s.seed}, concurrency "
               f"{s.concurrency}, {s.cpus_per_trial:g} cpu + {s.gpus_per_trial:g} gpu per trial, "
               f"scheduler {s.effective_scheduler} (grace {s.grace_period}, factor {s.reduction_factor:g}), "
               f"goal {space.effective_goal}")
    t = space.train
    typer.echo(f"  train        {t.epochs} epochs, batch {t.batch_size}, lr {t.lr:g}, "
               f"warmup {t.warmup_epochs:g}, weight decay {t.weight_decay:g}, seed {t.seed}, "
               f"split seed {'= seed' if t.split_seed is None else t.split_seed}")
    typer.echo("  size         " + ("not counted (continuous, or too many branches)"
                                    if survey.size is None
                                    else f"{survey.size:,} combinations"))
    fraction = survey.feasible_fraction
    shown = "unknown" if fraction is None else f"{fraction:.1%}"
    typer.echo(f"  feasible     {shown} of {survey.samples} random samples (seed {survey.seed}); "
               f"{survey.buildable} buildable")
    if survey.distinct:
        how = "all" if survey.exact else f"{survey.distinct_counted} (a random subset; raise --cost-budget) of"
        typer.echo(f"  costs        counted for {how} {survey.distinct} distinct buildable "
                   f"architectures in {survey.count_seconds:.1f} s")
    if survey.rejections:
        typer.echo("  rejected     " + "; ".join(
            f"{count} {kind} (e.g. {survey.examples[kind]})"
            for kind, count in survey.rejections.most_common()))
    typer.echo(f"  feasible     params {_span(survey.params)}, MACs {_span(survey.macs)}")
    for name, stats in survey.groups.items():
        typer.echo(f"  group        {name}: {stats.samples} feasible samples, "
                   f"params {_span(stats.params)}, MACs {_span(stats.macs)}")
    if space.group_quota:
        from t2tsearch.groups import describe_plan

        plan = describe_plan(space.group_quota, space.comparison.scatter,
                             space.comparison.margin)
        typer.echo(f"  power        {plan}")
    if space.constraints.max_macs and survey.macs:
        typer.echo(f"  budget use   largest feasible sample uses "
                   f"{survey.macs[1] / space.constraints.max_macs:.0%} of max_macs "
                   f"{format_count(space.constraints.max_macs)}")


@app.command()
def sample(
    space_file: Annotated[str, typer.Argument(metavar="SPACE", help="Search space YAML file.")],
    n: Annotated[int, typer.Option("-n", "--num", min=1, help="Architectures to draw.")] = 10,
    seed: Annotated[int | None, typer.Option(help="Sampling seed (default: search.seed).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    threads: ThreadsOption = None,
) -> None:
    """Draw random architectures from a space and show their params and MACs."""
    use_threads(threads)
    from t2tsearch.space.counts import format_count
    from t2tsearch.space.load import load_space
    from t2tsearch.space.sampling import sample_random

    space = load_space(space_file)
    drawn = sample_random(space, n, seed)
    if as_json:
        _print_json([
            {"number": s.number, "id": s.config.id, "params": s.params, "arch": s.config.to_dict(),
             "cost": s.cost.to_dict() if s.cost else None, "rejection": s.rejection,
             "groups": list(s.groups)}
            for s in drawn
        ])
        return
    used_seed = space.search.seed if seed is None else seed
    typer.echo(f"{space_file}: {n} samples from '{space.name}' (seed {used_seed})")
    head = ["#", "id", "params", "MACs", "tokens", "groups", "architecture"]
    rows = [[str(s.number), s.config.id, format_count(s.cost.params) if s.cost else "-",
             format_count(s.cost.macs) if s.cost else "-", str(s.config.num_tokens),
             ",".join(s.groups) or "-",
             s.config.short() + (f"  REJECTED {s.rejection}" if s.rejection else "")]
            for s in drawn]
    for line in _columns(head, rows, right={"#", "params", "MACs", "tokens"}):
        typer.echo(line)
    feasible = sum(s.feasible for s in drawn)
    typer.echo(f"{feasible} of {n} feasible")


def _columns(head: list[str], rows: list[list[str]], right: set[str]) -> list[str]:
    """A plain-text table whose columns are as wide as their longest cell (the last one is not
    padded), numbers right-aligned, so every column starts at the same offset on every line."""
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = []
    for row in [head, *rows]:
        cells = [cell.rjust(width) if name in right else cell.ljust(width)
                 for name, cell, width in zip(head[:-1], row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]))
    return lines


# ---- training ----------------------------------------------------------------------------------
@app.command()
def train(
    arch: Annotated[str, typer.Argument(help="Preset name or YAML/JSON file with an ArchConfig.")],
    img_size: Annotated[int | None, typer.Option(
        min=1, help="Input resolution (default: the dataset's native size).")] = None,
    dataset: Annotated[str, typer.Option(
        help="mnist5k (built in), mnist, fashion_mnist, cifar10, cifar100 or imagefolder.")
    ] = "mnist5k",
    data_dir: Annotated[Path | None, typer.Option(
        help="Local folder holding the dataset: idx files (gzipped or not) or torchvision's "
             "layout; nothing is downloaded. fashion_mnist without it: "
             "/usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (default 3).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (default 128).")] = None,
    lr: Annotated[float | None, typer.Option(help="Peak AdamW learning rate (default 1e-3).")] = None,
    seed: Annotated[int, typer.Option(
        help="Seed for the weights, the batch order and the augmentation.")] = 0,
    split_seed: Annotated[int, typer.Option(
        help="Seed for the train/validation split (and the --train-subset draw).")] = 0,
    val_size: Annotated[int, typer.Option(
        min=1, help="Training images held out for validation, of a dataset with a test set "
                    "of its own (mnist, fashion_mnist, cifar10, cifar100).")
    ] = DEFAULT_VAL_SIZE,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1, ...")] = "auto",
    train_subset: Annotated[int | None, typer.Option(
        min=1, help="Train on this many images only (a class-balanced subset; smoke runs).")] = None,
    latency: Annotated[bool, typer.Option(
        help="Measure inference latency after training.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output, no progress bar.")] = False,
    threads: ThreadsOption = None,
) -> None:
    """Train one architecture with the proxy recipe and print its accuracy."""
    use_threads(threads)
    from pydantic import ValidationError
    from tqdm import tqdm

    from t2tsearch.cost import count_cost
    from t2tsearch.data import dataset_info, load_data
    from t2tsearch.train import TrainBudget, train_proxy

    info = dataset_info(dataset, data_dir)
    base = load_arch(arch)
    size = img_size or info.native_size or base.img_size
    cfg = with_overrides(base, size, info.num_classes, info.in_chans).check()
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr}
    try:
        budget = TrainBudget(dataset=dataset, data_dir=str(data_dir) if data_dir else None,
                             img_size=size, seed=seed, split_seed=split_seed, val_size=val_size,
                             device=device,
                             measure_latency=latency, train_subset=train_subset,
                             **{key: value for key, value in given.items() if value is not None})
    except ValidationError as err:
        raise UserError(format_validation_error(err)) from None
    data = load_data(dataset, size, data_dir, split_seed=split_seed, train_limit=train_subset,
                     val_size=val_size)
    cost_of = count_cost(cfg)
    name = arch if arch in _preset_names() else Path(arch).stem

    bar = tqdm(total=budget.epochs, desc=name, unit="epoch", file=sys.stderr, disable=as_json,
               leave=False)

    def show(metrics) -> None:
        bar.write(f"epoch {metrics.epoch}/{budget.epochs}: val acc {metrics.val_acc:.1%} | "
                  f"val loss {metrics.val_loss:.3f} | train loss {metrics.train_loss:.3f} | "
                  f"{metrics.images_per_s:,.0f} img/s | {metrics.seconds:.1f} s", file=sys.stderr)
        bar.set_postfix_str(f"val acc {metrics.val_acc:.1%}", refresh=False)
        bar.update(1)

    try:
        result = train_proxy(cfg, data, budget, on_epoch=None if as_json else show)
    finally:
        bar.close()
    if as_json:
        _print_json({"name": name, "id": cfg.id, "arch": cfg.to_dict(), "cost": cost_of.to_dict(),
                     "budget": budget.model_dump(mode="json"), "result": result.to_dict()})
    elif result.status in ("complete", "stopped"):
        if result.latency_ms_b1 is not None:
            typer.echo(f"{name}: latency {result.latency_ms_b1:.2f} ms at batch 1, "
                       f"{result.latency_ms_batch:.1f} ms at batch {budget.batch_size} "
                       f"({result.throughput:,.0f} img/s inference)")
        typer.echo(f"{name}: val acc {result.val_acc:.1%} | {cost_of.mparams:.2f}M params | "
                   f"{cost_of.gmacs:.3f} GMACs | {result.images_per_s:,.0f} img/s | "
                   f"{result.seconds:.1f} s ({_epochs(result.epochs_completed)}, {result.status})")
    else:
        typer.echo(f"{name}: {result.status}: {result.reason} "
                   f"({_epochs(result.epochs_completed)} completed, {result.seconds:.1f} s)",
                   err=True)
    if result.status not in ("complete", "stopped"):
        raise typer.Exit(1)


def _epochs(count: int) -> str:
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def _preset_names() -> set[str]:
    from t2tsearch.models.presets import PRESETS

    return set(PRESETS)


# ---- the search ---------------------------------------------------------------------------------
@app.command()
def run(
    space: Annotated[str | None, typer.Argument(help="Search space YAML (omit with --resume).")] = None,
    name: Annotated[str | None, typer.Option(help="Run name (default: SPACE-NAME-DATE-TIME).")] = None,
    out: Annotated[str, typer.Option(help="Folder that holds runs.")] = "results",
    resume: Annotated[str | None, typer.Option(help="Go on with the run in this folder.")] = None,
    trials: Annotated[int | None, typer.Option(help="Trials to train (overrides search.trials).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Trials at once.")] = None,
    cpus_per_trial: Annotated[float | None, typer.Option(help="CPUs per trial.")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial, may be fractional.")] = None,
    sampler: Annotated[str | None, typer.Option(help="ehvi, nsga2, tpe, gp, random or grid.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="pareto_asha, asha or none (default auto: none under ehvi, else pareto_asha).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampler seed.")] = None,
    goal: Annotated[str | None, typer.Option(help="compare_groups or front (default auto: compare_groups when the space has groups).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to attach to (ray://... or host:port).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray Tune's own tables and logs.")] = False,
    evaluator: Annotated[str | None, typer.Option(help="What answers a trial: 'train' (proxy training, the default) or "
                                                "'table:FILE' (a tabular benchmark's results); on --resume, the run's own.")] = None,
) -> None:
    """Search a space: Optuna proposes, Ray Tune trains, the run directory records everything."""
    from t2tsearch.search import SearchOptions, run_search

    if space is not None and resume is not None:
        raise UserError("run: give either a space file or --resume RUN_DIR, not both")
    options = SearchOptions(trials=trials, concurrency=concurrency, cpus_per_trial=cpus_per_trial,
                            gpus_per_trial=gpus_per_trial, sampler=sampler, scheduler=scheduler,
                            seed=seed, goal=goal, address=address, verbose=verbose, evaluator=evaluator,
                            command=["t2tsearch", *sys.argv[1:]], echo=typer.echo)
    summary = run_search(space, out=out, name=name, resume=resume, options=options)
    if summary.note:
        typer.echo(summary.note)
    from t2tsearch.results.tables import describe_counts

    table = summary.table
    typer.echo(f"\n{len(table)} proposals: {describe_counts(summary.counts, table)}")
    if summary.group_counts:
        typer.echo(f"full-budget architectures per group (quota {summary.quota} each): "
                   + ", ".join(f"{g} {n}" for g, n in summary.group_counts.items()))
    if summary.front.empty:
        typer.echo("no full-budget trial yet: no Pareto front")
    else:
        typer.echo(f"Pareto front ({len(summary.front)} architectures, full-budget trials only):")
        typer.echo(format_front(summary.front))
    typer.echo(f"\ntrials table: {summary.run.trials_csv}")
    if summary.interrupted or summary.unstarted:
        typer.echo(f"interrupted with {summary.interrupted} trial(s) in flight and "
                   f"{summary.unstarted} not started; go on with: "
                   f"t2tsearch run --resume {summary.run.path}", err=True)
        raise typer.Exit(130)
    for line in next_commands(summary.run.path):
        typer.echo(line)
    if summary.failed:
        # 64 + N: a script can tell "N trials failed" apart from a user error (2). N is the
        # run's (any session's), the count the summary prints; interrupted trials are not in it.
        typer.echo(f"{summary.failed} trial(s) failed (diverged, out of memory, raised or lost "
                   f"their worker past search.max_retries); see the reason column of the trials "
                   f"table", err=True)
        raise typer.Exit(64 + min(summary.failed, 63))


def next_commands(run_path: str | Path) -> list[str]:
    """What to run after a finished search: the report, and for a trained run of a space with
    groups the confirmation that measures whether the verdict holds at a longer budget (a run
    answered from a tabular benchmark has nothing to confirm: confirm refuses it)."""
    from t2tsearch.fidelity import confirm_command, suggested_epochs
    from t2tsearch.results.directory import RunDir
    from t2tsearch.space.load import load_space

    lines = [f"next: t2tsearch report {run_path}"]
    space = load_space(Path(run_path) / "space.yaml")
    if space.groups and RunDir(Path(run_path)).table_evaluator() is None:
        lines.append(f"      {confirm_command(run_path, space)}   (does the group verdict hold "
                     f"at {suggested_epochs(space)} epochs?)")
    return lines


def format_front(front) -> str:
    """The front as a plain-text table: trial, accuracy, MACs, params, architecture."""
    from t2tsearch.arch import ArchConfig

    lines = [f"  {'trial':>5} {'acc %':>6} {'MMACs':>9} {'params':>9}  architecture"]
    for _, row in front.iterrows():
        arch = ArchConfig.from_json(row["arch"]).short()
        lines.append(f"  {row['trial']:>5} {row['accuracy']:>6.1f} {row['macs'] / 1e6:>9.2f} "
                     f"{row['params'] / 1e6:>8.3f}M  {arch}")
    return "\n".join(lines)


# ---- reports ----
@app.command()
def report(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    out: Annotated[str | None, typer.Option(help="Page to write (default RUN/report.html).")] = None,
    images: Annotated[bool, typer.Option(
        help="Also write PNGs of the main plots (needs a Chrome/Chromium).")] = True,
) -> None:
    """Write a run's report: fronts, hypervolume, importance, group verdict, one offline page."""
    from t2tsearch.report.run_page import build_report

    path = build_report(run_dir, out, images=images, echo=typer.echo)
    typer.echo(f"report: {path}")


@app.command()
def compare(
    runs: Annotated[list[str], typer.Argument(metavar="RUN RUN...", help="Two or more runs.")],
    out: Annotated[str, typer.Option(help="Page to write.")] = "compare.html",
) -> None:
    """Overlay several runs' fronts and hypervolume curves (common reference point) on one page."""
    from t2tsearch.report.compare import build_comparison

    typer.echo(f"comparison: {build_comparison(runs, out)}")


@app.command()
def export(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    out: Annotated[str, typer.Option(help="YAML file (--trial) or folder (--front).")],
    front: Annotated[bool, typer.Option("--front", help="Every front architecture, one file "
                                        "each, into the folder --out.")] = False,
    trial: Annotated[int | None, typer.Option(help="One trial's architecture.")] = None,
) -> None:
    """Write architectures from a run as YAML that cost, train and build_model accept."""
    from t2tsearch.export import export_front, export_trial

    if front == (trial is not None):
        raise UserError("export: give exactly one of --front or --trial N")
    if trial is not None:
        typer.echo(f"trial {trial}: {export_trial(run_dir, trial, out)}")
        return
    paths = export_front(run_dir, out)
    typer.echo(f"{len(paths)} front architectures written to {out}:")
    for path in paths:
        typer.echo(f"  {path}")


@app.command()
def confirm(
    run_dir: Annotated[str, typer.Argument(metavar="RUN", help="Run directory.")],
    seeds: Annotated[int | None, typer.Option(help="Seeds per architecture in all: with --seeds "
                                              "alone the search's own included (default 3); "
                                              "with --epochs at that budget (default 1).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Train the front and a control sample for "
                                               "this many epochs (more than the run's) to "
                                               "measure the proxy's fidelity.")] = None,
    controls: Annotated[int, typer.Option(help="Other architectures beside the front, drawn "
                                          "from every group (with --epochs; with --seeds "
                                          "when the space has groups).")] = 6,
    concurrency: Annotated[int | None, typer.Option(min=1, help="Trainings at once.")] = None,
    cpus_per_trial: Annotated[float | None, typer.Option(
        help="CPUs per training (default: the run's search.cpus_per_trial).")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(
        help="GPUs per training, may be fractional (default: the run's "
             "search.gpus_per_trial).")] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to attach to.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Show Ray Tune's output.")] = False,
) -> None:
    """Re-train the front on more seeds (the report shows mean ± spread), or with --epochs N,
    with a control sample at a longer budget (the report measures the proxy's fidelity)."""
    from t2tsearch.confirm import run_confirm
    from t2tsearch.results.run import read_run

    use_threads(None)  # the driver counts costs; its trainings set their own (cpus_per_trial)
    summary = run_confirm(run_dir, seeds, epochs=epochs, controls=controls,
                          concurrency=concurrency, address=address, echo=typer.echo,
                          verbose=verbose, cpus_per_trial=cpus_per_trial,
                          gpus_per_trial=gpus_per_trial)
    # Failed trainings are counted, not an error (the exit status stays 0, as with --seeds):
    # the next call trains them again.
    done = f"{summary.trained} trained, {summary.skipped} already done, {summary.failed} failed"
    data = read_run(summary.run.path)  # what the confirmations recorded, read once
    tested = data.test_results[data.test_results["epochs"] == summary.epochs]
    if epochs is not None:
        typer.echo(f"{done} at {epochs} epochs")
        _print_fidelity(data, epochs)
        if not tested.empty:
            typer.echo(f"  at {epochs} epochs, mean over the {len(tested)} re-trained "
                       f"architectures: val acc {tested['val_accuracy'].mean():.2f}% (the "
                       f"validation images the search measured on), test acc "
                       f"{tested['test_accuracy'].mean():.2f}% (the test set it never saw)")
        return
    explain = (" (val acc: the validation images the search measured on; test acc: the test set "
               "it never saw, mean over the re-trained seeds)" if not tested.empty else "")
    typer.echo(f"{done}; front after confirmation{explain}:")
    test_of = dict(zip(tested["config_id"], tested["test_accuracy"], strict=True))
    for _, row in summary.front.iterrows():
        spread = f" ± {row['accuracy_std']:.2f} ({int(row['seeds'])} seeds)" if row["seeds"] > 1 else ""
        test = (f" | test acc {test_of[row['config_id']]:6.2f}%"
                if row["config_id"] in test_of else "")
        typer.echo(f"  trial {row['trial']:>4} {row['config_id']} val acc "
                   f"{row['accuracy']:6.2f}%{spread}{test} | {row['macs'] / 1e6:.2f} MMACs")


def _print_fidelity(data: Run, epochs: int) -> None:
    """The proxy's fidelity at the budget just confirmed, in a few lines."""
    from t2tsearch.fidelity import run_fidelity

    run = data.run
    measured = [f for f in run_fidelity(data) if f.epochs == epochs]
    if not measured:
        typer.echo(f"no architecture completed at {epochs} epochs: fidelity not measured")
        return
    fidelity = measured[0]
    typer.echo(fidelity.sentence())
    typer.echo(f"  proxy front points still non-dominated at {epochs} epochs: "
               f"{fidelity.front_kept} of {fidelity.proxy_front}")
    for pair in fidelity.pairs:
        typer.echo(f"  {pair.describe()}")
    typer.echo(f"the report shows it: t2tsearch report {run.path}")


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors become one line on stderr and exit status 2, never a traceback.

    Usage errors (unknown option, missing argument) are click's: usage text and status 2.
    """
    try:
        app(args=argv, prog_name="t2tsearch")
    except UserError as err:
        typer.echo(f"t2tsearch: error: {err}", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("t2tsearch: interrupted", err=True)
        return 130
    except SystemExit as done:  # click's standalone mode always ends with SystemExit
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
