"""`tickcast models` as users run it: separate processes on a data dir."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.predictions_helpers import cli, train_with_cli, write_csv


def test_models_train_list_show_delete(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    csv = write_csv(tmp_path / "train.csv")
    out = train_with_cli(data, csv, user="ann", **{"--algorithm": "logistic_regression"})
    assert out.startswith("trained ann/example_strategy/class/DecisionTree v1: logistic_regression")
    listed = cli("models", "list", "--data-dir", data)
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split("\t") == [
        "ann", "example_strategy", "class", "DecisionTree", "v1", "logistic_regression", "80",
    ]  # fmt: skip
    model = ["--user", "ann", "--strategy", "example_strategy", "--name", "DecisionTree"]
    shown = cli("models", "show", *model, "--type", "class", "--data-dir", data)
    meta = json.loads(shown.stdout)
    assert meta["features"] == ["point1", "point2"] and meta["rows"] == 80
    assert 0 <= meta["metrics"]["accuracy"] <= 1 and meta["versions"][0]["version"] == 1
    assert cli("models", "show", *model, "--type", "reg", "--data-dir", data).returncode == 1
    deleted = cli("models", "delete", *model, "--type", "class", "--data-dir", data)
    assert deleted.returncode == 0
    assert cli("models", "delete", *model, "--type", "class", "--data-dir", data).returncode == 1
    bad = cli("models", "train", *model, "--type", "reg", "--csv", str(csv), "--target", "label",
              "--data-dir", data)  # fmt: skip
    assert bad.returncode == 2 and "'label'" in bad.stderr and "not a number" in bad.stderr
