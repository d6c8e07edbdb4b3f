"""nl2sql-eval as a drop-in for Spider's execution evaluation: table, per-item JSONL, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nl2sql_pipeline.core.evaluation.cli import main
from nl2sql_pipeline.core.evaluation.inputs import read_generated_predictions
from nl2sql_pipeline.core.evaluation.textmetrics import llamafactory_bleu_rouge
from nl2sql_pipeline_tests.conftest import REPO, SPIDER_DE

GOLD_LINES = (SPIDER_DE / "dev_gold.sql").read_text("utf-8").splitlines()[:40]


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    path = tmp_path / "gold.sql"
    path.write_text("\n".join(GOLD_LINES) + "\n", encoding="utf-8")
    return path


def _pred_file(tmp_path: Path, lines: list[str], name: str = "pred.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_table_and_per_item_lines(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = [line.rsplit("\t", 1)[0] for line in GOLD_LINES]
    preds[0] = "SELECT count(*) FROM sänger WHERE 1 = 0"  # wrong, still exit 0
    preds[1] = "SQL: " + preds[1] + ";"  # raw model output lines are extracted too
    out = tmp_path / "items.jsonl"
    code = main(["--gold", str(gold_file), "--pred", str(_pred_file(tmp_path, preds)), "--db", str(SPIDER_DE / "database"),
                 "--out", str(out), "--workers", "1", "--timeout", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "EXECUTION ACCURACY" in printed and "easy" in printed and "extra" in printed
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert len(rows) == 40
    assert {"index", "db_id", "match", "pred_error"} <= rows[0].keys()
    assert rows[0]["match"] is False and rows[0]["pred_error"] is None
    assert all(r["match"] for r in rows[1:] if r["executable"])


def test_parse_gate_flag_gives_the_same_verdicts(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--parse-gate judges SQLite predictions with the sqlglot gate instead of SQLite's authorizer:
    a refused prediction is refused by either, with the gate's own reason."""
    preds = [line.rsplit("\t", 1)[0] for line in GOLD_LINES]
    preds[10] = "SELECT name FROM sqlite_master"
    preds[11] = "SELECT 1 /*! , LOAD_FILE('/etc/passwd') */"  # a comment to SQLite; refused by the parse gate
    rows = {}
    for flag in ([], ["--parse-gate"]):
        out = tmp_path / f"items{len(flag)}.jsonl"
        assert main(["--gold", str(gold_file), "--pred", str(_pred_file(tmp_path, preds)), "--db", str(SPIDER_DE / "database"),
                     "--out", str(out), "--workers", "1", *flag]) == 0
        rows[bool(flag)] = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    capsys.readouterr()
    assert [r["match"] for r in rows[False]] == [r["match"] for r in rows[True]]
    assert rows[False][10]["pred_error"] == rows[True][10]["pred_error"] == "rejected"
    assert "sqlite_master" in rows[False][10]["error"] and "sqlite_master" in rows[True][10]["error"]
    assert rows[False][11]["executed"] and not rows[True][11]["executed"]
    assert "executable /*!" in rows[True][11]["error"]


def test_before_after_and_llamafactory_jsonl(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _pred_file(tmp_path, ["SELECT 1"] * 40, "base.txt")
    adapter = tmp_path / "generated_predictions.jsonl"
    adapter.write_text("".join(
        json.dumps({"prompt": "q", "predict": f"SQL: {line.rsplit(chr(9), 1)[0]}", "label": line.rsplit("\t", 1)[0] + "\n"}) + "\n"
        for line in GOLD_LINES), encoding="utf-8")
    code = main(["--gold", str(gold_file), "--pred", str(base), "--pred", str(adapter), "--db", str(SPIDER_DE / "database"),
                 "--workers", "1", "--text"])
    assert code == 0
    printed = capsys.readouterr().out
    table = printed[printed.index("| Metric |"):]
    assert "| Execution match % | 0.00 | 100.00 | +100.00 |" in table
    # BLEU/ROUGE score the jsonl's own predict/label strings, newline included, as LLaMA-Factory did
    rows = read_generated_predictions(adapter)
    expected = llamafactory_bleu_rouge([r.predict for r in rows], [r.label for r in rows])
    assert "| BLEU-4 (LLaMA-Factory) | " in table and f"| {expected['lf_bleu4']:.2f} |" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--gold", "missing.sql", "--pred", "p.txt", "--db", "."], "does not exist"),
        (["--gold", "GOLD", "--pred", "SHORT", "--db", str(SPIDER_DE / "database")], "predictions for 40 gold items"),
        (["--gold", "GOLD", "--pred", "SHORT", "--db", "nowhere"], "predictions for 40 gold items"),
    ],
)
def test_bad_inputs_exit_2_with_cause_and_fix(tmp_path: Path, gold_file: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    short = _pred_file(tmp_path, ["SELECT 1"] * 3)
    args = [str(gold_file) if a == "GOLD" else str(short) if a == "SHORT" else a for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Fix:" in err


def test_missing_database_folder(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred = _pred_file(tmp_path, ["SELECT 1"] * 40)
    assert main(["--gold", str(gold_file), "--pred", str(pred), "--db", str(tmp_path)]) == 2
    assert "not in" in capsys.readouterr().err


def test_console_script_bad_argument_exits_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "nl2sql_pipeline.core.evaluation.cli", "--gold", "g", "--pred", "p", "--db", "d",
                           "--semantics", "fuzzy"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_neighbours_flag_reports_test_suite_beside_single_database(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = [line.rsplit("\t", 1)[0] for line in GOLD_LINES]
    # concert_singer near-misses the database alone accepts (a shifted boundary literal, a flipped order)
    near = {"SELECT ort , name FROM stadion WHERE kapazität BETWEEN 5000 AND 10000":
            "SELECT ort , name FROM stadion WHERE kapazität BETWEEN 5000 AND 10001"}
    preds = [near.get(p, p) for p in preds]
    assert preds != [line.rsplit("\t", 1)[0] for line in GOLD_LINES]
    args = ["--gold", str(gold_file), "--pred", str(_pred_file(tmp_path, preds)), "--db", str(SPIDER_DE / "database"), "--workers", "1"]
    assert main([*args, "--out", str(tmp_path / "plain.jsonl")]) == 0
    plain_out = capsys.readouterr().out
    assert main([*args, "--neighbours", "4", "--neighbour-dir", str(tmp_path / "nb"), "--show-failures", "5",
                 "--out", str(tmp_path / "suite.jsonl")]) == 0
    printed = capsys.readouterr().out
    assert "neighbour databases: 4 for 1 database(s)" in printed and "single database" in printed
    assert "wrong_on_neighbours" in printed and "not on every neighbour" in printed
    assert "single database" not in plain_out  # --neighbours 0: today's table
    plain = [json.loads(line) for line in (tmp_path / "plain.jsonl").read_text("utf-8").splitlines()]
    suite = [json.loads(line) for line in (tmp_path / "suite.jsonl").read_text("utf-8").splitlines()]
    assert [p["match"] for p in plain] == [s["single_db_match"] or False for s in suite]
    assert all(p["neighbours_checked"] == 0 for p in plain)
    assert sum(p["match"] and not s["match"] for p, s in zip(plain, suite)) >= 1
    assert not any(s["match"] and not p["match"] for p, s in zip(plain, suite))  # never adds a match


def test_neighbours_refuse_a_folder_beside_the_source(tmp_path: Path, gold_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pred = _pred_file(tmp_path, [line.rsplit("\t", 1)[0] for line in GOLD_LINES])
    beside = SPIDER_DE / "database" / "concert_singer" / "neighbours"
    assert main(["--gold", str(gold_file), "--pred", str(pred), "--db", str(SPIDER_DE / "database"), "--neighbours", "2",
                 "--neighbour-dir", str(beside)]) == 2
    assert "next to the source" in capsys.readouterr().err and not beside.exists()
