"""``python -m gandemo``: list, train, compare, bench (the contract is in DESIGN.md).

Exit codes: 0 done; 2 invalid input (one line on stderr naming every invalid setting and its
allowed range); 3 diverged (files written up to the divergence). Setting flags are read as text
by ``config.parse_settings``, so ``--steps 1e309`` is answered like ``--set steps=1e309``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import (
    ConfigError,
    RunConfig,
    describe,
    load_json,
    parse_settings,
    parse_value,
    raise_all,
    show_value,
    to_dict,
    with_target_defaults,
)
from .tuning import train_here

EXIT_OK, EXIT_INVALID, EXIT_DIVERGED = 0, 2, 3


class UsageError(Exception):
    """Bad command-line usage; the message is shown as one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage dump, exit 2 (argparse's own code)
        raise UsageError(message)


def _csv(kind):
    def parse(text: str):
        try:
            return [kind(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") \
                from None
    return parse


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", help="real distribution (see `list`)")
    p.add_argument("--data", metavar="FILE.csv",
                   help="train on your own points: 1 column (1D) or 2 (2D), header optional")
    p.add_argument("--steps")
    p.add_argument("--seed")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch")
    p.add_argument("--width", help="hidden units of G and D")
    p.add_argument("--depth", help="hidden layers of G and D")
    p.add_argument("--lr-g", dest="lr_g")
    p.add_argument("--lr-d", dest="lr_d")
    p.add_argument("--config", help="start from a config.json")
    p.add_argument("--preset", help="start from a classroom preset (see `list`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any RunConfig setting; repeatable")
    p.add_argument("--animate", metavar="gif,mp4,html",
                   help="also write animation.gif/.mp4/.html of the run's replay frames")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gandemo", description="Toy GANs you can watch learn.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="targets, losses, presets and settings")
    train = sub.add_parser("train", help="train one GAN and write its files")
    _add_run_args(train)
    train.add_argument("--loss")
    train.add_argument("--d-steps", dest="d_steps")
    compare = sub.add_parser("compare", help="train several losses / D strengths on one seed")
    _add_run_args(compare)
    compare.add_argument("--losses", type=_csv(str), help="A,B,..; default: the preset's variants")
    compare.add_argument("--d-steps", type=_csv(str), dest="d_steps", help="k values, e.g. 1,5")
    bench = sub.add_parser("bench", help="measure training speed")
    bench.add_argument("--json", action="store_true", help="last line: a JSON object")
    bench.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    bench.add_argument("--presets", action="store_true",
                       help="also every preset side by side vs its variants one at a time (~1 min)")
    dyn = sub.add_parser("dynamics", help="Dirac-GAN: eigenvalues and verdict (no training)")
    dyn.add_argument("--loss", default="minimax")
    dyn.add_argument("--reg", default="none", help="none, r1, gp or noise")
    for flag, reg in (("--gamma", "r1"), ("--lam", "gp"), ("--sigma", "noise")):
        dyn.add_argument(flag, type=float, help=f"strength of --reg {reg}")
    dyn.add_argument("--loss-param", type=float, dest="loss_param",
                     help="c for wgan (clipping), lambda for wgan-gp")
    dyn.add_argument("--eta", type=float, default=0.1)
    dyn.add_argument("--k", type=int, default=1, help="D steps per G step")
    dyn.add_argument("--steps", type=int, default=300, help="G steps of the two paths")
    dyn.add_argument("--start", type=_csv(float), default=[1.0, 1.0], help="theta,psi")
    return parser


def _settings(args) -> RunConfig:
    """The validated config of the command line; ConfigError(s) naming every invalid setting."""
    data, errors = _base_config(args)
    cfg, more = parse_settings(with_target_defaults(data))  # a setting not given: the target's
    raise_all(errors + more)
    return cfg


def _base_config(args) -> tuple[dict, list[ConfigError]]:
    """Settings from --preset/--config, then the flags, then --set (later wins), as given (text
    or JSON values), and the errors of --set items that are not KEY=VALUE."""
    data: dict = {}
    errors: list[ConfigError] = []
    if args.preset:
        from .presets import get_preset

        data.update(to_dict(get_preset(args.preset).configs()[0]))
    if args.config:
        try:
            loaded = load_json(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            why = e.strerror if isinstance(e, OSError) else "not a UTF-8 text file"
            raise ConfigError("config", f"cannot read {show_value(args.config)}: {why}") from None
        if not isinstance(loaded, dict):
            raise ConfigError("config", "must be a JSON object of settings")
        data.update(loaded)
    for key in ("target", "steps", "seed", "batch", "lr_g", "lr_d", "loss", "d_steps"):
        value = getattr(args, key, None)
        if value is not None and not isinstance(value, list):
            data[key] = value
    if args.data is not None:
        from .userdata import read_points_file

        data["data"] = read_points_file(args.data).tolist()
        if args.target is None:  # with --target it must be custom (parse_settings says so)
            data["target"] = "custom"
    if args.width is not None:
        data["g_width"] = data["d_width"] = args.width
    if args.depth is not None:
        data["g_depth"] = data["d_depth"] = args.depth
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            errors.append(ConfigError("set", f"expected KEY=VALUE, got {show_value(item)}"))
        else:
            data[key.strip()] = value
    return data, errors


def cmd_list() -> int:
    from .losses import LOSSES
    from .presets import PRESETS
    from .targets import TARGETS

    print("targets:")
    for t in TARGETS.values():
        print(f"  {t.name:<14} {t.dim}D  {t.description}")
    print("losses:")
    for loss in LOSSES.values():
        print(f"  {loss.name:<14} {loss.summary}")
    print("presets:")
    width = max(map(len, PRESETS)) + 1
    for p in PRESETS.values():
        print(f"  {p.name:<{width}} {p.title}")
    print("settings (--set KEY=VALUE):")
    for line in describe():
        print(f"  {line}")
    return EXIT_OK


SAMPLE_COUNT = 4000  # samples.npy rows


def final_samples(trainer, n: int = SAMPLE_COUNT):
    """n fresh generator samples (a fixed noise stream, independent of training), shape (n, dim)."""
    import torch

    from .nets import sample_noise

    cfg = trainer.cfg
    gen = torch.Generator().manual_seed(cfg.seed + 7)
    return trainer.generate(sample_noise(cfg.noise, n, cfg.noise_dim, gen)).numpy()


def write_files(out: Path, files) -> None:
    """Write ``files`` ({name: bytes | str}, text as UTF-8) into the directory ``out``."""
    for name, data in files.items():
        if isinstance(data, bytes):
            (out / name).write_bytes(data)
        else:
            (out / name).write_text(data, encoding="utf-8")


def write_figure(fig, out: Path, width: int = 1600) -> None:
    """``report.figure_files`` into ``out``; a PNG that cannot be rendered is a warning."""
    from .report import figure_files

    write_files(out, figure_files(fig, width, on_error=lambda msg: print(
        f"warning: figure.png not written: {msg}", file=sys.stderr)))


def _progress(trainer):
    """on_log callback printing JS/W1 about ten times per run."""
    def on_log(row):
        if row["step"] % max(trainer.cfg.steps // 10, 1) < trainer.cfg.log_every:
            print(f"step {int(row['step'])}/{trainer.cfg.steps}  JS {row['js']:.4f}  "
                  f"W1 {row['w1']:.4f}", file=sys.stderr)
    return on_log


def _figure(trainers, labels, lang: str):
    """``report.comparison_figure_from`` fed from finished trainers."""
    from .report import comparison_figure_from

    return comparison_figure_from(
        [(label, tr.snapshot()) for label, tr in zip(labels, trainers)],
        {label: tr.history.as_arrays() for label, tr in zip(labels, trainers)},
        [tr.cfg for tr in trainers], lang)


def write_run(cfg: RunConfig, out: Path, lang: str = "en", on_step=None) -> bool:
    """Train ``cfg`` and write the run files into ``out``. Returns True when the run diverged.
    ``on_step(trainer)``, if given, is called before training and after every logged row."""
    import numpy as np

    from .config import to_json
    from .export import history_csv
    from .trainer import Trainer

    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(cfg)
    progress = _progress(trainer)
    if on_step is not None:
        on_step(trainer)
    trainer.run(on_log=progress if on_step is None else
                lambda row: (progress(row), on_step(trainer)))
    write_files(out, {"config.json": to_json(cfg),
                      "metrics.csv": history_csv(trainer.history.as_arrays())})
    np.save(out / "samples.npy", final_samples(trainer))
    write_figure(_figure([trainer], [f"{cfg.loss} k={cfg.d_steps}"], lang), out)
    last = trainer.history.last()
    print(f"{trainer.status}: step {trainer.step_count}, JS {last.get('js', float('nan')):.4f}, "
          f"W1 {last.get('w1', float('nan')):.4f} -> {out}")
    if trainer.diverged_at is not None:
        print(f"error: training diverged at step {trainer.diverged_at} (NaN/Inf); files written",
              file=sys.stderr)
    return trainer.diverged_at is not None


def write_comparison(configs, out: Path, lang: str = "en", on_step=None) -> bool:
    """Train the variants side by side and write the comparison files. True if any diverged.
    ``on_step(comparison)``, if given, is called before training and after every step.
    Iterations/s come from each history's logged training time (its last row is the last step)."""
    from . import report
    from .compare import Comparison

    out.mkdir(parents=True, exist_ok=True)
    comp = Comparison(list(configs))
    if on_step is not None:
        on_step(comp)
    while not comp.done:
        comp.step()
        if on_step is not None:
            on_step(comp)
    trainers, labels = comp.trainers, comp.labels
    histories = {label: tr.history.as_arrays() for label, tr in zip(labels, trainers)}
    summary = report.summary_from_histories(
        histories, [tr.cfg for tr in trainers], labels,
        steps=[tr.step_count for tr in trainers],
        diverged_at=[tr.diverged_at for tr in trainers])
    write_files(out, {
        "config.json": report.comparison_config_json(configs, labels),
        "metrics.csv": report.long_metrics_from_histories(histories, labels),
        "summary.csv": summary.to_csv(index=False, lineterminator="\n"),
    })
    write_figure(_figure(trainers, labels, lang), out)
    print(summary[["variant", "final_js", "final_w1", "modes_covered", "diverged_at"]]
          .to_string(index=False))
    for label, tr in zip(labels, trainers):
        if tr.diverged_at is not None:
            print(f"error: {label} diverged at step {tr.diverged_at}", file=sys.stderr)
    return any(tr.diverged_at is not None for tr in trainers)


def cmd_train(args) -> int:
    cfg = _settings(args)
    formats, rec = _recorder(args, cfg.steps, cfg.log_every)
    diverged = write_run(cfg, Path(args.out), on_step=rec)
    _write_animation(rec, formats, Path(args.out))
    return EXIT_DIVERGED if diverged else EXIT_OK


def cmd_compare(args) -> int:
    base = _settings(args)
    if args.losses is None and args.preset:
        from .presets import get_preset

        overrides = {k: v for k, v in to_dict(base).items()
                     if v != to_dict(get_preset(args.preset).configs()[0])[k]}
        variants = [c.with_(**overrides) for c in get_preset(args.preset).configs()]
    elif args.losses is None:
        raise UsageError("compare needs --losses A,B,.. (or --preset NAME)")
    else:
        ks, losses, errors = [], [], []
        for name, given, into in (("d_steps", args.d_steps or [base.d_steps], ks),
                                  ("loss", args.losses, losses)):
            for value in given:
                try:
                    into.append(parse_value(name, value))
                except ConfigError as err:
                    errors.append(err)
        raise_all(errors)
        variants = [base.with_(loss=loss, d_steps=k) for loss in losses for k in ks]
    formats, rec = _recorder(args, max(v.steps for v in variants), base.log_every)
    diverged = write_comparison(variants, Path(args.out), on_step=rec)
    _write_animation(rec, formats, Path(args.out))
    return EXIT_DIVERGED if diverged else EXIT_OK


def _recorder(args, steps: int, log_every: int):
    """(formats, frame recorder) for ``--animate``, or ((), None) without it."""
    if args.animate is None:
        return (), None
    from .animate import AnimationError, Recorder, parse_formats

    try:
        formats = parse_formats(args.animate)
    except AnimationError as e:
        raise UsageError(str(e)) from None
    return formats, Recorder(steps, log_every)


def _write_animation(rec, formats, out: Path) -> None:
    """animation.<fmt> files; a render failure is a warning (the run's files are written)."""
    if rec is None:
        return
    from .animate import AnimationError, write

    try:
        for path in write(rec.animation(), out, formats):
            print(f"wrote {path}", file=sys.stderr)
    except AnimationError as e:
        print(f"warning: animation not written: {e}", file=sys.stderr)


def cmd_dynamics(args) -> int:
    from .dynamics import Setup, summary

    owner = {"gamma": "r1", "lam": "gp", "sigma": "noise"}  # flag -> the --reg it sets
    given = {flag: getattr(args, flag) for flag in owner if getattr(args, flag) is not None}
    wrong = [f"--{flag}" for flag in given if owner[flag] != args.reg]
    if wrong:
        raise UsageError(f"{', '.join(wrong)} does not apply to --reg {args.reg}")
    if len(args.start) != 2:
        raise UsageError(f"--start must be two numbers theta,psi, got {len(args.start)}")
    try:
        setup = Setup(loss=args.loss, reg=args.reg, strength=next(iter(given.values()), None),
                      loss_param=args.loss_param, eta=args.eta, k=args.k)
        print("\n".join(summary(setup, tuple(args.start), args.steps)))
    except ValueError as e:
        raise UsageError(str(e)) from None
    return EXIT_OK


def cmd_bench(args) -> int:
    from .bench import run_bench

    result = run_bench(seconds=args.seconds, log=print)
    if args.presets:
        from .bench import preset_speedups

        result["preset_speedups"] = preset_speedups(log=print)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    train_here()
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list()
        if args.command == "train":
            return cmd_train(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "dynamics":
            return cmd_dynamics(args)
        return cmd_bench(args)
    except (UsageError, ConfigError) as e:  # bad input; anything else is a bug and raises
        print(f"error: {e}", file=sys.stderr)
        return EXIT_INVALID


__all__ = ["main", "RunConfig"]
