"""Blind votes in a real SQLite file: kept with everything needed to audit them, tallied as win rates
with Wilson intervals and a Bradley–Terry ranking that recovers known strengths, exported as CSV."""
import csv
import io
import json
import random
import subprocess
import sys

import pytest
from scipy.stats import binomtest

from rag_vs_ft import votes
from rag_vs_ft.errors import UserError


def simulate(cfg, n: int, strength: dict, seed: int = 0) -> None:
    """Votes drawn from a Bradley–Terry world with these strengths; one in ten a tie or both bad."""
    rng = random.Random(seed)
    for _ in range(n):
        a, b = rng.sample(sorted(strength), 2)
        r = rng.random()
        if r < 0.1:
            vote = rng.choice(["tie", "both bad"])
        else:
            vote = "A" if rng.random() < strength[a] / (strength[a] + strength[b]) else "B"
        votes.record(cfg, f"case {r:.3f}", a, b, f"report by {a}", f"report by {b}", vote, {"as_of": None})


def test_a_vote_keeps_the_case_both_reports_and_the_method_behind_each_letter(cfg):
    vid = votes.record(cfg, "a case", "rag", "finetuned", "report A", "report B", "both bad", {"adapter": "x"})
    (row,) = votes.rows(cfg)
    assert row["id"] == vid and (cfg.data_dir / "votes.sqlite").is_file()
    assert {k: row[k] for k in ("case_text", "mode_a", "mode_b", "report_a", "report_b", "vote")} == {
        "case_text": "a case", "mode_a": "rag", "mode_b": "finetuned", "report_a": "report A",
        "report_b": "report B", "vote": "both bad"}
    assert json.loads(row["settings"]) == {"adapter": "x"}


@pytest.mark.parametrize("args", [("rag", "finetuned", "A wins"), ("rag", "rag", "A")])
def test_a_malformed_vote_is_refused(cfg, args):
    with pytest.raises(UserError):
        votes.record(cfg, "case", args[0], args[1], "a", "b", args[2])
    assert votes.rows(cfg) == []


def test_win_rates_count_ties_as_half_with_the_wilson_interval(cfg):
    for vote in ["A"] * 6 + ["B"] * 2 + ["tie", "both bad"]:
        votes.record(cfg, "case", "rag", "finetuned", "r", "f", vote)
    t = votes.tally(votes.rows(cfg))
    rag, ft = t["methods"]["rag"], t["methods"]["finetuned"]
    assert (rag["battles"], rag["wins"], rag["losses"], rag["ties"], rag["both_bad"]) == (10, 6, 2, 1, 1)
    assert rag["win_rate"]["mean"] == 0.7 and ft["win_rate"]["mean"] == pytest.approx(0.3)
    assert t["bradley_terry"] is None, "two methods: the win rates say it all"
    scipy_ci = binomtest(7, 10).proportion_ci(method="wilson")  # 6 wins + 2 halves = 7 of 10
    assert rag["win_rate"]["ci95"] == [round(scipy_ci.low, 4), round(scipy_ci.high, 4)]


def test_bradley_terry_recovers_the_order_of_known_strengths(cfg):
    simulate(cfg, 300, {"rag": 4.0, "hybrid": 2.0, "finetuned": 1.0, "base": 0.25})
    bt = votes.tally(votes.rows(cfg))["bradley_terry"]
    assert sorted(bt, key=lambda m: bt[m]["rank"]) == ["rag", "hybrid", "finetuned", "base"]
    for s in bt.values():
        assert s["ci95"][0] <= s["score"] <= s["ci95"][1]
    assert bt["rag"]["ci95"][0] > bt["base"]["ci95"][1], "a 16x strength gap is resolved by 300 votes"
    assert sum(s["score"] for s in bt.values()) / 4 == pytest.approx(1000, abs=0.5), "1000 is the average"


def test_csv_holds_every_vote_and_the_cli_prints_the_same_tally(cfg, tmp_path):
    simulate(cfg, 30, {"rag": 3.0, "finetuned": 1.0, "base": 0.5})
    rows = votes.rows(cfg)
    back = list(csv.DictReader(io.StringIO(votes.to_csv(rows))))
    assert [(r["mode_a"], r["mode_b"], r["vote"], r["report_a"]) for r in back] == [
        (r["mode_a"], r["mode_b"], r["vote"], r["report_a"]) for r in rows]
    out = tmp_path / "votes.csv"
    run = subprocess.run([sys.executable, "-m", "rag_vs_ft", "votes", "--json", "--csv", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == votes.tally(rows)
    assert out.read_bytes().decode() == votes.to_csv(rows)
    text = subprocess.run([sys.executable, "-m", "rag_vs_ft", "votes"], capture_output=True, text=True, timeout=120)
    assert "30 votes" in text.stdout and "Bradley-Terry ranking" in text.stdout
