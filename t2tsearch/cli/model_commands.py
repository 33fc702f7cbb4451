"""The commands on architectures and spaces, before any run: `presets`, `cost`, `validate`,
`sample` and `train` (one proxy training)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from t2tsearch.budget import DEFAULT_VAL_SIZE
from t2tsearch.cli.app import (
    ThreadsOption,
    app,
    format_validation_error,
    load_arch,
    print_json,
    use_threads,
    with_overrides,
)
from t2tsearch.errors import UserError


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
        print_json([
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
        print_json({"name": arch, "id": cfg.id, "arch": cfg.to_dict(), "cost": result.to_dict(),
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
    from t2tsearch.space.survey import describe_base, validate_space

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
        print_json([
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
    from t2tsearch.engine.data import dataset_info, load_data
    from t2tsearch.engine.train import TrainBudget, train_proxy

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
        print_json({"name": name, "id": cfg.id, "arch": cfg.to_dict(), "cost": cost_of.to_dict(),
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
