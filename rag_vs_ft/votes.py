"""Blind judging: an audience votes on two anonymous reports (A and B); the votes are kept in SQLite
under the data dir and tallied the way public model arenas rank models (`HOW`, shown in the app)."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3

from .config import Config
from .errors import UserError

HOW = ("Win rate: the share of a method's battles it won, a tie or \"both bad\" counting half, with a 95% Wilson "
       "interval (honest at a handful of votes, where a bootstrap shrinks to a point). Bradley–Terry: one strength "
       "per method fitted to all battles at once (logistic regression, as the arenas do; ties split in two "
       "half-weighted wins), on an Elo-like scale (1000 = the average, +400 = ten times the odds of winning), with "
       "95% intervals from resampling the votes; only with more than two methods, where it says more than the "
       "win rates.")

CHOICES = {"A": "A is better", "B": "B is better", "tie": "Tie", "both bad": "Both bad"}
COLUMNS = ("id", "at", "case_text", "mode_a", "mode_b", "report_a", "report_b", "vote", "settings")
_SCHEMA = """CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY, at TEXT NOT NULL, case_text TEXT NOT NULL,
    mode_a TEXT NOT NULL, mode_b TEXT NOT NULL, report_a TEXT NOT NULL, report_b TEXT NOT NULL,
    vote TEXT NOT NULL, settings TEXT NOT NULL)"""
RESAMPLES = 1000


def _db(cfg: Config) -> sqlite3.Connection:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(cfg.data_dir / "votes.sqlite", timeout=30)  # visitors vote at once: wait, don't fail
    con.execute(_SCHEMA)
    return con


def record(cfg: Config, case: str, mode_a: str, mode_b: str, report_a: str, report_b: str, vote: str,
           settings: dict | None = None) -> int:
    """Keep one vote with everything needed to audit it later; returns its id."""
    if vote not in CHOICES:
        raise UserError(f"a vote is one of {', '.join(CHOICES)}, not {vote!r}")
    if mode_a == mode_b:
        raise UserError("a blind vote compares two different methods")
    with _db(cfg) as con:
        cur = con.execute("INSERT INTO votes (at, case_text, mode_a, mode_b, report_a, report_b, vote, settings) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (dt.datetime.now().isoformat(timespec="seconds"), case, mode_a, mode_b, report_a,
                           report_b, vote, json.dumps(settings or {})))
    return cur.lastrowid


def rows(cfg: Config) -> list[dict]:
    if not (cfg.data_dir / "votes.sqlite").is_file():
        return []
    with _db(cfg) as con:
        return [dict(zip(COLUMNS, r)) for r in con.execute(f"SELECT {', '.join(COLUMNS)} FROM votes ORDER BY id")]


def to_csv(votes: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS)
    writer.writeheader()
    writer.writerows(votes)
    return out.getvalue()


def _outcome(vote: str, side: str) -> float:
    """1 for a win, 0 for a loss, 0.5 for a tie or both bad."""
    return 1.0 if vote == side else 0.0 if vote in ("A", "B") else 0.5


def bradley_terry(votes: list[dict], methods: list[str]) -> list[float]:
    """Elo-scaled strengths, one per method. sklearn's default L2 penalty acts as a weak prior that
    keeps a method that never lost at a finite score when there are few votes."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    at = {m: i for i, m in enumerate(methods)}
    x, y, w = [], [], []
    for v in votes:
        row = np.zeros(len(methods))
        row[at[v["mode_a"]]], row[at[v["mode_b"]]] = 1, -1
        a_wins = _outcome(v["vote"], "A")
        for sign, label, weight in ((1, 1, a_wins), (1, 0, 1 - a_wins), (-1, 0, a_wins), (-1, 1, 1 - a_wins)):
            if weight:  # each battle also seen from B's side, at half weight: the same likelihood, both classes
                x.append(sign * row), y.append(label), w.append(weight / 2)
    fit = LogisticRegression(fit_intercept=False).fit(np.array(x), np.array(y), sample_weight=np.array(w))
    coef = fit.coef_[0] - fit.coef_[0].mean()
    return [round(float(1000 + 400 / np.log(10) * c), 1) for c in coef]


def wilson(successes: float, n: int, z: float = 1.959964) -> dict:
    """The score interval of a proportion (Wilson 1927); half-wins are fine as fractional successes."""
    if not n:
        return {"mean": None, "ci95": [None, None]}
    p = successes / n
    centre, half = (p + z * z / (2 * n)) / (1 + z * z / n), z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return {"mean": round(p, 4), "ci95": [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]}


def tally(votes: list[dict]) -> dict:
    """Per method: battles, wins, losses, ties, both bad, win rate with its interval; the
    Bradley–Terry ranking with bootstrap intervals when more than two methods were judged."""
    methods = sorted({v[k] for v in votes for k in ("mode_a", "mode_b")})
    out = {"votes": len(votes), "methods": {}, "bradley_terry": None}
    for m in methods:
        outcomes = [_outcome(v["vote"], "A" if v["mode_a"] == m else "B")
                    for v in votes if m in (v["mode_a"], v["mode_b"])]
        out["methods"][m] = {"battles": len(outcomes), "wins": outcomes.count(1.0), "losses": outcomes.count(0.0),
                             "ties": sum(v["vote"] == "tie" for v in votes if m in (v["mode_a"], v["mode_b"])),
                             "both_bad": sum(v["vote"] == "both bad" for v in votes if m in (v["mode_a"], v["mode_b"])),
                             "win_rate": wilson(sum(outcomes), len(outcomes))}
    if len(methods) > 2:
        out["bradley_terry"] = _ranked(votes, methods)
    return out


def _ranked(votes: list[dict], methods: list[str]) -> dict:
    import numpy as np
    from scipy.stats import bootstrap as scipy_bootstrap
    scores = bradley_terry(votes, methods)
    if len(votes) > 1:
        ci = scipy_bootstrap((np.arange(len(votes)),), lambda i: np.array(bradley_terry([votes[j] for j in i], methods)),
                             vectorized=False, n_resamples=RESAMPLES, method="percentile", random_state=0
                             ).confidence_interval
        low, high = ci.low, ci.high
    else:
        low = high = scores
    order = sorted(range(len(methods)), key=lambda i: -scores[i])
    return {methods[i]: {"rank": r, "score": scores[i], "ci95": [round(float(low[i]), 1), round(float(high[i]), 1)]}
            for r, i in enumerate(order, 1)}


def text(t: dict) -> str:
    """The tally as the CLI prints it."""
    if not t["votes"]:
        return "no votes yet (vote in the app: Compare, blind mode)"
    lines = [f"{t['votes']} votes", f"{'method':<10} {'battles':>7} {'won':>4} {'lost':>4} {'tie':>4} {'both bad':>8}"
             f"  win rate (95% CI)"]
    for m, s in t["methods"].items():
        wr = s["win_rate"]
        lines.append(f"{m:<10} {s['battles']:>7} {s['wins']:>4} {s['losses']:>4} {s['ties']:>4} {s['both_bad']:>8}"
                     f"  {wr['mean']:.2f} ({wr['ci95'][0]:.2f}-{wr['ci95'][1]:.2f})")
    if t["bradley_terry"]:
        lines += ["", "Bradley-Terry ranking (Elo scale, 95% bootstrap CI)"]
        lines += [f"{s['rank']}. {m:<10} {s['score']:>7.1f} ({s['ci95'][0]:.1f}-{s['ci95'][1]:.1f})"
                  for m, s in sorted(t["bradley_terry"].items(), key=lambda kv: kv[1]["rank"])]
    return "\n".join(lines)
