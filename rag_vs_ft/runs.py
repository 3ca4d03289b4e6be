"""Every figure the README reports comes from a run file in docs/, and anyone can check it.

    python -m rag_vs_ft runs --verify [--json]   # recompute, compare with the tree, compare the README
    python -m rag_vs_ft runs --render            # rewrite the README's generated tables from the runs

A run's `produced_by` names what produced it: the code (a hash of the package's files: source, prompts,
vocabularies), the commit, the corpus, the cases, the adapters, the backend and decoding settings, the
date. `verify` recomputes each run's aggregates from its per-case rows, and checks that the run matches
the current tree, or the commit it names (read through git: check that commit out and the run is
re-derivable); otherwise the run is stale, and verify says which part differs. The README's tables sit
between `<!-- runs:NAME -->` and `<!-- /runs -->` and must equal what the runs render.
"""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

from .config import REPO

RUNS = [REPO / "docs" / "reference", REPO / "docs" / "runs"]
README = REPO / "README.md"
IDENTITY_PATHS = ("rag_vs_ft", "corpus", "adapters", ":(exclude)corpus/cases/ledger.json")  # the ledger
# records runs; it does not shape them


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Tree:
    """The repository's files: the working tree, or a commit's (read through git)."""

    def __init__(self, commit: str | None = None, root: Path = REPO):
        self.commit, self.root = commit, root

    def files(self, folder: str, suffix: str = "") -> list[str]:
        """Paths under `folder`, relative to the root, sorted; compiled files left out."""
        if self.commit:
            out = _git("ls-tree", "-r", "--name-only", self.commit, "--", folder).decode().split("\n")
        else:  # what a commit of this tree would hold: tracked and untracked files, not ignored ones
            try:
                out = _git("ls-files", "--cached", "--others", "--exclude-standard", "--", folder).decode().split("\n")
                out = [p for p in out if p and (self.root / p).is_file()]
            except (LookupError, OSError):  # not a git checkout
                base = self.root / folder
                out = [p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file()] if base.is_dir() else []
        return sorted(p for p in out if p and p.endswith(suffix) and "__pycache__" not in p and not p.endswith(".pyc"))

    def read(self, path: str) -> bytes:
        return _git("show", f"{self.commit}:{path}") if self.commit else (self.root / path).read_bytes()


def _git(*args: str) -> bytes:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, timeout=60)
    if out.returncode:
        raise LookupError(out.stderr.decode().strip() or f"git {args[0]} failed")
    return out.stdout


def code(tree: Tree | None = None) -> str:
    """The code identity: every file of the package, names included."""
    tree = tree or Tree()
    return _sha(b"".join(p.encode() + tree.read(p) for p in tree.files("rag_vs_ft")))[:16]


def identity(tree: Tree, which: str | None = None, adapters: list[str] = ()) -> dict:
    """The parts of `produced_by` a tree determines, computed the way `evaluate.provenance` records them."""
    out = {"code": code(tree)}
    if which:
        docs = sorted(tree.files("corpus/research", ".md") + tree.files("corpus/incoming", ".md"))
        docs += [p for p in tree.files(f"corpus/uploads/{which}") if "/" not in p[len(f"corpus/uploads/{which}/"):]]
        out["corpus_sha256"] = _sha(b"".join(Path(p).name.encode() + tree.read(p) for p in docs))
        out["cases_sha256"] = {name: _sha(tree.read(f"corpus/cases/{name}.json")) for name in ("train", which)}
    if adapters:
        out["adapters"] = {a: _sha(tree.read(f"adapters/{a}/adapter_model.safetensors")) for a in adapters}
    return out


def commit() -> tuple[str | None, bool]:
    """(the short commit, whether the package, corpus or adapters differ from it): a run made on a
    changed tree cannot be re-derived from its commit."""
    try:
        head = _git("rev-parse", "--short", "HEAD").decode().strip()
        dirty = bool(_git("status", "--porcelain", "--", *IDENTITY_PATHS).strip())
    except (LookupError, OSError):
        return None, True
    return head, dirty


def stamp() -> dict:
    """The code identity and commit, for a run's `produced_by`."""
    head, dirty = commit()
    return {"code": code(), "commit": head, "dirty": dirty}


# --- recomputing aggregates ----------------------------------------------------------------------

def kind(run: dict) -> str:
    if "sweep" in run:
        return "sweep"
    if "arms" in run:
        return "injection"
    if "modes" in run:
        return "eval"
    if "nothing_copied" in run:
        return "plan"
    return "bench"


def recompute(run: dict) -> dict:
    """The run's aggregates, computed again from its rows (the bench's from its timing samples)."""
    from . import evaluate
    k = kind(run)
    if k == "eval":  # the modes and metrics the rows carry: deleting an aggregate cannot hide it
        modes = list(dict.fromkeys(r["mode"] for r in run["rows"]))
        scored = set().union(*(r.keys() for r in run["rows"]))
        return evaluate.summarize(run["rows"], modes, [m for m in evaluate.METRICS if m in scored],
                                  [m for m in evaluate.PAIRED if m in scored])
    if k == "plan":
        return {m: evaluate.bootstrap([r[m] for r in run["rows"]]) for m in evaluate.PLAN_METRICS} | \
            {"cases": len(run["rows"])}
    if k == "sweep":
        return {"sweep": evaluate.sweep_summary(run["rows"], run["shipped"])}
    if k == "injection":
        return {"arms": evaluate.arms(run["rows"]), "cases": len({r["case"] for r in run["rows"]}),
                "case_ids": list(dict.fromkeys(r["case"] for r in run["rows"]))}
    from . import bench
    return bench.recompute(run)


def _differences(stored, fresh, path: str = "", both: bool = True, top: bool = True) -> list[str]:
    """Where the stored aggregates differ from the recomputed ones: every key the rows give, and (`both`)
    below the top level every key either side has, so a stored figure for a mode or arm the rows lack is
    a difference. A bench run keeps single measurements beside its percentiles: only those are compared."""
    if isinstance(fresh, dict) and isinstance(stored, dict):
        keys = dict.fromkeys([*fresh, *stored]) if both and not top else fresh
        return [d for k in keys for d in _differences(stored.get(k), fresh.get(k), f"{path}.{k}" if path else k,
                                                       both, False)]
    return [] if stored == fresh else [f"{path}: recorded {stored!r}, rows give {fresh!r}"[:300]]


# --- checking a run against the tree ------------------------------------------------------------

def parts(run: dict) -> tuple[str | None, list[str]]:
    """(the case set, the adapters) a run's identity covers. A run with generated reports names both and
    a plan-only run its case set (the injection run: the first held-out set); a missing one is stale."""
    by = run.get("produced_by") or {}
    which = run.get("case_set") or by.get("case_set") or ("heldout" if kind(run) == "injection" else None)
    return which, list(by.get("adapters") or {})


NEEDS = {"eval": ("code", "commit", "corpus_sha256", "cases_sha256", "adapters", "settings", "backend"),
         "injection": ("code", "commit", "corpus_sha256", "cases_sha256", "adapters", "backend"),
         "plan": ("code", "commit", "corpus_sha256", "cases_sha256"), "bench": ("code", "commit", "cores"),
         "sweep": ("code", "commit", "cases_sha256")}


def _mismatch(by: dict, ident: dict) -> list[str]:
    return [k for k, v in ident.items() if by.get(k) != v]


def match(run: dict, now: dict | None = None) -> dict:
    """{"status": "current" | "as of commit" | "stale", "differs": [...], "detail": str}."""
    by = run.get("produced_by") or {}
    which, adapters = parts(run)
    if missing := [k for k in NEEDS[kind(run)] if not by.get(k)]:
        return {"status": "stale", "differs": missing, "detail": f"produced_by lacks {', '.join(missing)}"}
    try:
        _git("cat-file", "-e", f"{by['commit']}^{{commit}}")
    except (LookupError, OSError):
        return {"status": "stale", "differs": ["commit"], "detail": f"commit {by['commit']} is not in this repository"}
    now = now or identity(Tree(), which, adapters)
    differs = _mismatch(by, now)
    added = f" (identity added after the run: {by['reproduced']})" if by.get("reproduced") else ""
    if not differs:
        return {"status": "current", "differs": [], "detail": "matches the working tree" + added}
    if by.get("commit") and not by.get("dirty"):
        try:
            then = identity(Tree(by["commit"]), which, adapters)
        except LookupError as e:
            return {"status": "stale", "differs": differs, "detail": f"commit {by['commit']} unreadable: {e}"}
        if not _mismatch(by, then):
            changed = _git("diff", "--name-only", by["commit"], "--", *IDENTITY_PATHS).decode().split()
            return {"status": "as of commit", "differs": differs,
                    "detail": f"re-derivable at {by['commit']}; since then {', '.join(differs)} changed "
                              f"({len(changed)} files under {', '.join(IDENTITY_PATHS[:3])}){added}"}
        return {"status": "stale", "differs": differs,
                "detail": f"{', '.join(_mismatch(by, then))} match neither the tree nor commit {by['commit']}"}
    return {"status": "stale", "differs": differs, "detail": f"{', '.join(differs)} differ from the working tree "
                                                             "and no clean commit is recorded"}


# --- README tables -------------------------------------------------------------------------------

def load_all() -> dict[str, dict]:
    """Every run file, by name (`reference/last`, `runs/heldout4`, ...)."""
    return {f"{p.parent.name}/{p.stem}": json.loads(p.read_text()) for folder in RUNS for p in sorted(folder.glob("*.json"))}


def _m(x) -> str:
    return "–" if x is None or x.get("mean") is None else f"{x['mean']:.2f}"


def _ci(x) -> str:
    return "–" if x is None or x.get("mean") is None else f"{x['mean']:.2f} ({x['ci95'][0]:.2f}–{x['ci95'][1]:.2f})"


def served(by: dict) -> str:
    """The base and backend a run names ("SmolLM2-135M-Instruct on llamacpp"); runs made before the
    base could change (RAG_VS_FT_BASE) name only the backend, and were on the shipped model."""
    from .models import SHIPPED_NAME
    return f"{by.get('base') or SHIPPED_NAME} on {by.get('backend') or '?'}"


def _when(run: dict) -> str:
    by = run.get("produced_by") or {}
    return f"{by.get('date', '?')}, {by.get('commit') or '?'}"


EVAL_COLUMNS = (("key facts added", "key_fact_recall"), ("uploads used", "upload_used"),
                ("wrong population", "wrong_population"), ("citation faithfulness", "citation_faithfulness"),
                ("recall@3", "recall_at_k"), ("memorization", "memorization"), ("s/report", "latency_s"))


def table_reference(runs: dict) -> str:
    run = runs["reference/last"]
    cols = [c for c in EVAL_COLUMNS if any(v.get(c[1], {}).get("mean") is not None for v in run["modes"].values())]
    lines = [f"{run['cases']} `{run['case_set']}` cases, {served(run['produced_by'])}, run {_when(run)}; "
             "mean (95% bootstrap interval).", "",
             "| mode | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {mode} | " + " | ".join(_ci(v.get(k)) if k == "key_fact_recall" else _m(v.get(k)) for _, k in cols)
              + " |" for mode, v in run["modes"].items()]
    lines += ["", "Paired difference in key facts added (bootstrap over cases):", ""]
    lines += [f"- {pair}: {p['key_fact_recall']['mean']:+.2f} ({p['key_fact_recall']['ci95'][0]:+.2f} to "
              f"{p['key_fact_recall']['ci95'][1]:+.2f}), {p['key_fact_recall']['cases']} cases"
              for pair, p in run["paired"].items() if p["key_fact_recall"]["mean"] is not None]
    return "\n".join(lines)


def table_sets(runs: dict) -> str:
    """One row per case set run with generation: the figures issue targets are read from."""
    lines = ["| run | cases | RAG key facts added | fine-tuned | oracle | uploads used | wrong population | "
             "citation faithfulness | recall@3 | run |", "|---" * 10 + "|"]
    for name, run in runs.items():
        if kind(run) != "eval" or name == "reference/last":
            continue
        m = run["modes"]
        g = lambda mode, k: m.get(mode, {}).get(k)
        lines.append(f"| `{run['case_set']}` | {run['cases']} | {_ci(g('rag', 'key_fact_recall'))} | "
                     f"{_m(g('finetuned', 'key_fact_recall'))} | {_m(g('rag-oracle', 'key_fact_recall'))} | "
                     f"{_m(g('rag', 'upload_used'))} | {_m(g('rag', 'wrong_population'))} | "
                     f"{_m(g('rag', 'citation_faithfulness'))} | {_m(g('rag', 'recall_at_k'))} | {_when(run)} |")
    return "\n".join(lines)


def table_plans(runs: dict) -> str:
    lines = ["| set | cases | key facts added | uploads used | wrong population | nothing copied | run |",
             "|---" * 7 + "|"]
    lines += [f"| `{run['case_set']}` | {run['cases']} | {_m(run['key_fact_recall'])} | {_m(run['upload_used'])} | "
              f"{_m(run['wrong_population'])} | {_m(run['nothing_copied'])} | {_when(run)} |"
              for run in runs.values() if kind(run) == "plan"]
    return "\n".join(lines)


def table_injection(runs: dict) -> str:
    from . import evaluate
    run = runs["reference/injection"]
    return evaluate.injection_markdown(run) + f"\n\nRun {_when(run)}."


def table_bench(runs: dict) -> str:
    from . import bench
    run = runs.get("runs/bench")
    return bench.table(run) + f"\n\nRun {_when(run)}, {run['produced_by'].get('cores')} cores, " \
        f"{served(run['produced_by'])}." if run else \
        "Not measured yet: `python -m rag_vs_ft bench --json`."


def table_load(runs: dict) -> str:
    from . import bench
    b, compared = runs.get("runs/bench"), runs.get("runs/under-load")
    if not (b and b.get("under_load")) and not compared:
        return "Not measured yet: `python -m rag_vs_ft bench --json` and `bench --policies --json`."
    when = [f"the bench run {_when(b)}"] if b and b.get("under_load") else []
    when += [f"the comparison {_when(compared)}"] if compared else []
    return bench.load_table(b, compared) + f"\n\nRun: {'; '.join(when)}."


def table_retrieval(runs: dict) -> str:
    run = runs["runs/bench-retrieval"]
    lines = ["| chunks | dense p50 / p95 ms | hybrid + reading p50 / p95 ms | reading alone p50 ms |", "|---|---|---|---|"]
    lines += [f"| {int(n):,} | {d['p50']} / {d['p95']} | {h['p50']} / {h['p95']} | {h['reading_ms_p50']} |"
              for (n, d), h in zip(run["retrieval_ms"].items(), run["hybrid_retrieval_ms"].values())]
    return "\n".join(lines) + f"\n\nRun {_when(run)}."


def _mode(metric: str, mode: str = "rag", stored: bool = False):
    """A mode's mean from a run; `stored=True`: over the cases whose documents are in the store."""
    from . import evaluate

    def get(run):
        if not stored:
            return run["modes"].get(mode, {}).get(metric, {}).get("mean")
        rows = [r for r in run["rows"] if r["mode"] == mode and not r.get("needs_incoming")]
        return evaluate.bootstrap([r.get(metric) for r in rows])["mean"]
    return get


def _paired_low(run):
    p = run.get("paired", {}).get("rag - finetuned", {}).get("key_fact_recall", {})
    return (p.get("ci95") or [None])[0]


HELD_TOPIC = ("runs/heldout4", "runs/heldout6", "runs/heldout8")
HELD_TEN = ("runs/heldout5", "runs/heldout7", "runs/heldout9")
TARGETS = [  # (target, runs it is read from, the figure, "≥" or "≤", threshold): issues #22's and #26's, as written
    ("the Plan names the upload's treatment and cites the upload, topic-diverse held-out", HELD_TOPIC,
     _mode("upload_used"), "≥", 0.90),
    ("new-content recall (key facts added), RAG, shipped-topic held-out", HELD_TEN, _mode("key_fact_recall"), "≥", 0.70),
    ("paired RAG − fine-tuned excludes 0: the 95% interval's lower bound", HELD_TEN, _paired_low, ">", 0.0),
    ("wrong-population copies (share of RAG reports that cite)", HELD_TOPIC + HELD_TEN, _mode("wrong_population"), "≤", 0.02),
    ("citation faithfulness", HELD_TOPIC + HELD_TEN, _mode("citation_faithfulness"), "≥", 0.95),
    ("retrieval recall@3 on documents in the store", HELD_TOPIC + HELD_TEN, _mode("recall_at_k", stored=True), "≥", 0.90),
    ("hybrid retrieval p95 at 50k chunks, ms", ("runs/bench-retrieval",),
     lambda r: r["hybrid_retrieval_ms"]["50000"]["p95"], "≤", 25),
    ("reading the case and its candidates adds, ms (p50, worst size)", ("runs/bench-retrieval",),
     lambda r: max(v["reading_ms_p50"] for v in r["hybrid_retrieval_ms"].values()), "≤", 50),
    ("a report's decode while a training runs, × idle", ("runs/bench",),
     lambda r: (r.get("under_load") or {}).get("report_tok_s", {}).get("ratio"), "≥", 0.35),
    ("the training's s/step with one report a minute, × idle", ("runs/bench",),
     lambda r: (r.get("under_load") or {}).get("train_s_per_step", {}).get("ratio"), "≤", 1.5),
]


def table_targets(runs: dict) -> str:
    """One row per target: each run it is read from, its figure and met or missed (by how much)."""
    lines = ["| target | measured | |", "|---|---|---|"]
    for text, names, get, op, threshold in TARGETS:
        cells, verdicts = [], []
        for name in [n for n in names if n in runs]:  # a set not run yet (an unread held-out set) has no figure
            value = get(runs[name])
            if value is None:
                cells.append(f"`{name.split('/')[1]}` not measured")
                continue
            met = {"≥": value >= threshold, ">": value > threshold, "≤": value <= threshold}[op]
            gap = abs(value - threshold)
            cells.append(f"`{name.split('/')[1]}` {value:.3f}")
            verdicts.append("met" if met else f"**missed** by {gap:.3f}" if gap < 0.01 else f"**missed** by {gap:.2f}")
        lines.append(f"| {text} {op} {threshold:g} | {'; '.join(cells)} | {'; '.join(verdicts)} |")
    return "\n".join(lines)


def table_sweeps(runs: dict) -> str:
    """One row per measured constant: the values whose Plans equal the shipped value's on every development
    set, and what each other value changes (cases, and the key facts added summed over them)."""
    lines = ["| constant | shipped | same Plans | other values: Plans changed (key facts added) | run |", "|---" * 5 + "|"]
    for run in runs.values():
        if kind(run) != "sweep":
            continue
        recall, changed = {}, {}
        for r in run["rows"]:
            recall[r["value"]] = recall.get(r["value"], 0.0) + (r["key_fact_recall"] or 0.0)
        for s in run["sweep"]:
            changed.setdefault(s["value"], []).extend(s["plans_changed"])
        same = [v for v in changed if not changed[v]]
        other = [f"{v}: {len(c)} ({recall[v] - recall[run['shipped']]:+.1f})" for v, c in changed.items() if c]
        lines.append(f"| `{run['setting']}` | {run['shipped']} | {', '.join(map(str, same))} | "
                     f"{'; '.join(other) or 'none'} | {_when(run)} |")
    return "\n".join(lines)


TABLES = {"targets": table_targets, "reference": table_reference, "sets": table_sets, "plans": table_plans, "injection": table_injection,
          "bench": table_bench, "retrieval": table_retrieval, "load": table_load, "sweeps": table_sweeps}
BLOCK = re.compile(r"(<!-- runs:(\w+) -->\n)(.*?)(<!-- /runs -->)", re.S)


def render(text: str, runs: dict) -> str:
    """The text with every generated block replaced by what its runs render now."""
    return BLOCK.sub(lambda m: f"{m[1]}{TABLES[m[2]](runs)}\n{m[4]}", text)


# --- the whole check ------------------------------------------------------------------------------

def verify(readme: Path = README, runs: dict | None = None, identities: bool = True) -> dict:
    """{"ok": bool, "runs": {name: {"rows": [...], "status", "detail"}}, "readme": [...]}. `identities=False`
    skips the comparison with the tree (the part that reads git and the adapters)."""
    runs = runs if runs is not None else load_all()
    tables = load_all() | runs  # a table drawn from several runs: the given ones over the shipped rest
    out, ok = {}, True
    for name, run in runs.items():
        try:
            fresh = recompute(run) if "rows" in run or kind(run) == "bench" else None
            diffs = _differences(run, fresh, both=kind(run) != "bench") if fresh else ["no per-case rows or timing samples: the aggregates "
                                                            "cannot be recomputed"]
        except (KeyError, TypeError, ValueError) as e:
            diffs = [f"rows unreadable: {e!r}"]
        entry = {"rows": diffs}
        if identities:
            entry |= match(run)
        ok &= not diffs and entry.get("status") != "stale"
        out[name] = entry
    problems = []
    for page in ([readme] if readme != README else pages()):
        for m in BLOCK.finditer(page.read_text()):
            where = "" if page == readme else f" in {page.relative_to(REPO)}"
            if m[2] not in TABLES:
                problems.append(f"unknown table {m[2]}{where}")
            elif render(m[0], tables) != m[0]:
                problems.append(f"table {m[2]}{where} differs from its runs")
    return {"ok": ok and not problems, "runs": out, "readme": problems}


def pages() -> list[Path]:
    """The pages that carry generated tables: the README and docs/."""
    return [README, *sorted((REPO / "docs").glob("*.md"))]


def report(result: dict) -> str:
    lines = []
    for name, r in result["runs"].items():
        state = "rows ok" if not r["rows"] else f"ROWS DIFFER: {'; '.join(r['rows'][:3])}"
        lines.append(f"{name}: {state}" + (f"; {r['status']}: {r['detail']}" if "status" in r else ""))
    lines += [f"README: {p}" for p in result["readme"]] or ["README: every generated table equals its runs"]
    lines.append("verified" if result["ok"] else "NOT verified")
    return "\n".join(lines)
