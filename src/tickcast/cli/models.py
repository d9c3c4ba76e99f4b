"""``tickcast models``: train, list, show and delete prediction models in a data dir.

Works on ``<data-dir>/models`` directly (like ``tickcast keys`` on the key store), so a running
server picks the changes up within a second. Training runs in this process. Exit codes: 0 ok,
1 no such model, 2 bad input (unreadable file, bad CSV, unknown algorithm...).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tickcast.cli.keys import data_dir_of
from tickcast.predict.repository import FilesystemRepository
from tickcast.predict.spec import ALGORITHMS, DEFAULT_ALGORITHM, MODEL_TYPES, ModelError, ModelRef
from tickcast.predict.training import table_from_csv, table_from_rows, train_to_blob


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = subparsers.add_parser(
        "models",
        help="manage prediction models",
        description="Train, list, show and delete the prediction models served at /ws.",
    )
    commands = models.add_subparsers(dest="models_command", metavar="COMMAND", required=True)

    train = commands.add_parser(
        "train",
        help="train a model (a new version if it exists)",
        description=(
            "Train a model from a CSV file with a header row (or a JSON array of objects): "
            "every column but TARGET is a numeric feature, in file order. 25%% of the rows are "
            "held out for the metrics, then the model is fitted on every row."
        ),
    )
    _model_options(train)
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", type=Path, help="CSV file with a header row")
    source.add_argument("--json", type=Path, help="JSON file: an array of objects")
    train.add_argument("--target", required=True, help="the target column")
    train.add_argument(
        "--algorithm",
        default=DEFAULT_ALGORITHM,
        choices=sorted(ALGORITHMS),
        help=f"default {DEFAULT_ALGORITHM}",
    )
    train.add_argument("--seed", type=int, default=0, help="seed of the split and the model")
    train.set_defaults(func=train_command)

    listing = commands.add_parser("list", help="list models (newest versions)")
    listing.add_argument("--user", help="only this user's models")
    _data_dir_option(listing)
    listing.set_defaults(func=list_command)

    show = commands.add_parser("show", help="print a model's metadata and metrics as JSON")
    _model_options(show)
    show.set_defaults(func=show_command)

    delete = commands.add_parser("delete", help="delete a model and all its versions")
    _model_options(delete)
    delete.set_defaults(func=delete_command)


def _data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory (default $TICKCAST_DATA_DIR or ./data)",
    )


def _model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--user", required=True, help="the user owning the model")
    parser.add_argument("--strategy", required=True, help="strategy name (strat_name on /ws)")
    parser.add_argument("--name", required=True, help="model name (model_name on /ws)")
    parser.add_argument("--type", required=True, choices=MODEL_TYPES, help="class or reg")
    _data_dir_option(parser)


def _repository(args: argparse.Namespace) -> FilesystemRepository:
    return FilesystemRepository(data_dir_of(args) / "models")


def _fail(message: str, code: int) -> int:
    print(f"tickcast models: {message}", file=sys.stderr)
    return code


def _ref(args: argparse.Namespace) -> ModelRef:
    return ModelRef.checked(args.user, args.strategy, args.name, args.type)


def train_command(args: argparse.Namespace) -> int:
    try:
        ref = _ref(args)
        path: Path = args.csv or args.json
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelError(f"cannot read {str(path)!r}: {error}") from None
        if args.csv is not None:
            table, source = table_from_csv(text, args.target), "csv"
        else:
            try:
                rows = json.loads(text)
            except ValueError as error:
                raise ModelError(f"{str(path)!r} is not JSON: {error}") from None
            if not isinstance(rows, list):
                raise ModelError("the JSON file must hold an array of objects")
            table, source = table_from_rows(rows, args.target), "json"
        meta, blob = train_to_blob(table, ref, args.algorithm, args.seed, source, _now_ns())
        stored = _repository(args).save_sync(meta, blob)
    except ModelError as error:
        return _fail(error.message, 2)
    scores = " ".join(f"{name}={value:.4f}" for name, value in stored.metrics.items())
    print(
        f"trained {stored.ref} v{stored.version}: {stored.algorithm} on {stored.rows} rows, "
        f"features {','.join(stored.features)}; held-out {scores}"
    )
    return 0


def _now_ns() -> int:
    import time

    return time.time_ns()


def list_command(args: argparse.Namespace) -> int:
    print("\t".join(("user", "strategy", "type", "name", "version", "algorithm", "rows")))
    for meta in _repository(args).list_sync(args.user):
        ref = meta.ref
        fields = (ref.user, ref.strategy, ref.type, ref.name, f"v{meta.version}")
        print("\t".join((*fields, meta.algorithm, str(meta.rows))))
    return 0


def show_command(args: argparse.Namespace) -> int:
    try:
        versions = _repository(args).versions_sync(_ref(args))
    except ModelError as error:
        return _fail(error.message, 2)
    if not versions:
        return _fail("no such model", 1)
    shown = versions[-1].as_dict()
    shown["versions"] = [
        {"version": v.version, "created_ns": v.created_ns, "rows": v.rows, "metrics": v.metrics}
        for v in versions
    ]
    print(json.dumps(shown, indent=2))
    return 0


def delete_command(args: argparse.Namespace) -> int:
    try:
        ref = _ref(args)
    except ModelError as error:
        return _fail(error.message, 2)
    if not _repository(args).delete_sync(ref):
        return _fail("no such model", 1)
    print(f"deleted {ref}")
    return 0
