"""``python -m gandemo``: list, train, compare, bench (the contract is in DESIGN.md).

Exit codes: 0 done; 2 invalid input (one line on stderr naming the setting); 3 diverged (files
written up to the divergence).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import ConfigError, RunConfig, describe, from_dict, from_json, to_dict

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
    p.add_argument("--steps", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--batch", type=int)
    p.add_argument("--width", type=int, help="hidden units of G and D")
    p.add_argument("--depth", type=int, help="hidden layers of G and D")
    p.add_argument("--lr-g", type=float, dest="lr_g")
    p.add_argument("--lr-d", type=float, dest="lr_d")
    p.add_argument("--config", help="start from a config.json")
    p.add_argument("--preset", help="start from a classroom preset (see `list`)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any RunConfig setting; repeatable")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gandemo", description="Toy GANs you can watch learn.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("list", help="targets, losses, presets and settings")
    train = sub.add_parser("train", help="train one GAN and write its files")
    _add_run_args(train)
    train.add_argument("--loss")
    train.add_argument("--d-steps", type=int, dest="d_steps")
    compare = sub.add_parser("compare", help="train several losses / D strengths on one seed")
    _add_run_args(compare)
    compare.add_argument("--losses", type=_csv(str), help="A,B,..; default: the preset's variants")
    compare.add_argument("--d-steps", type=_csv(int), dest="d_steps", help="k values, e.g. 1,5")
    bench = sub.add_parser("bench", help="measure training speed")
    bench.add_argument("--json", action="store_true", help="last line: a JSON object")
    bench.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    return parser


def _base_config(args) -> dict:
    """Settings from --preset/--config, then the flags, then --set (later wins)."""
    data: dict = {}
    if args.preset:
        from .presets import get_preset

        data.update(to_dict(get_preset(args.preset).configs()[0]))
    if args.config:
        try:
            data.update(to_dict(from_json(Path(args.config).read_text())))
        except OSError as e:
            raise ConfigError("config", f"cannot read {args.config}: {e.strerror}") from None
    for key in ("target", "steps", "seed", "batch", "lr_g", "lr_d", "loss", "d_steps"):
        value = getattr(args, key, None)
        if value is not None and not isinstance(value, list):
            data[key] = value
    if args.width is not None:
        data["g_width"] = data["d_width"] = args.width
    if args.depth is not None:
        data["g_depth"] = data["d_depth"] = args.depth
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("set", f"expected KEY=VALUE, got {item!r}")
        data[key.strip()] = value
    return data


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


def cmd_train(args) -> int:
    from .report import write_run

    cfg = from_dict(_base_config(args))
    return EXIT_DIVERGED if write_run(cfg, Path(args.out)) else EXIT_OK


def cmd_compare(args) -> int:
    from .report import write_comparison

    base = from_dict(_base_config(args))
    if args.losses is None and args.preset:
        from .presets import get_preset

        overrides = {k: v for k, v in to_dict(base).items()
                     if v != to_dict(get_preset(args.preset).configs()[0])[k]}
        variants = [c.with_(**overrides) for c in get_preset(args.preset).configs()]
    elif args.losses is None:
        raise UsageError("compare needs --losses A,B,.. (or --preset NAME)")
    else:
        ks = args.d_steps or [base.d_steps]
        variants = [base.with_(loss=loss, d_steps=k) for loss in args.losses for k in ks]
    return EXIT_DIVERGED if write_comparison(variants, Path(args.out)) else EXIT_OK


def cmd_bench(args) -> int:
    from .bench import run_bench

    result = run_bench(seconds=args.seconds, log=print)
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    import torch

    torch.set_num_threads(1)  # toy nets: more threads only add synchronisation cost
    try:
        args = build_parser().parse_args(argv)
        if args.command == "list":
            return cmd_list()
        if args.command == "train":
            return cmd_train(args)
        if args.command == "compare":
            return cmd_compare(args)
        return cmd_bench(args)
    except (UsageError, ConfigError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_INVALID


__all__ = ["main", "RunConfig"]
