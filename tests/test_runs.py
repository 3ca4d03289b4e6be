"""Every reported figure can be re-derived: `runs --verify` on the shipped runs and on tampered copies."""
import copy
import json

import pytest

from rag_vs_ft import cli, runs

SHIPPED = runs.load_all()


def test_shipped_runs_verify():
    """Each shipped run's aggregates equal what its rows give, each matches the tree or the commit it
    names, and each README table equals what its runs render."""
    r = runs.verify(runs=SHIPPED)
    assert r["readme"] == [] and r["ok"], runs.report(r)
    assert {e["status"] for e in r["runs"].values()} <= {"current", "as of commit"}


def test_every_readme_table_comes_from_runs():
    blocks = {m[2] for page in runs.pages() for m in runs.BLOCK.finditer(page.read_text())}
    assert blocks == set(runs.TABLES)
    readme = {m[2] for m in runs.BLOCK.finditer(runs.README.read_text())}
    assert {"reference", "sets", "targets", "injection"} <= readme


def _one(kind):
    name = next(n for n, run in SHIPPED.items() if runs.kind(run) == kind)
    return name, copy.deepcopy(SHIPPED[name])


@pytest.mark.parametrize("kind", ["eval", "plan", "injection", "sweep"])
def test_a_changed_row_fails(kind):
    name, run = _one(kind)
    row = run["rows"][0]
    key = {"eval": "key_fact_recall", "plan": "key_fact_recall", "injection": "after", "sweep": "cited"}[kind]
    row[key] = (["another-document"] if kind == "sweep" else 1.0 if row[key] != 1.0 else 0.0)
    r = runs.verify(runs={name: run}, identities=False)
    assert not r["ok"] and r["runs"][name]["rows"], runs.report(r)


def test_changed_bench_samples_fail():
    name, run = _one("bench")
    timing = run["hybrid_retrieval_ms"]["50000"]
    timing["samples_ms"] = [x * 3 for x in timing["samples_ms"]]
    r = runs.verify(runs={name: run}, identities=False)
    assert not r["ok"] and any("p50" in d for d in r["runs"][name]["rows"])


def test_a_deleted_aggregate_or_a_deleted_arm_fails():
    """The rows decide what must be there: a metric or an arm taken out of the aggregates is noticed."""
    name, run = _one("eval")
    for figures in run["modes"].values():
        figures.pop("wrong_population", None)
    assert not runs.verify(runs={name: run}, identities=False)["ok"]
    name, run = _one("injection")
    arm = run["rows"][0]["arm"]
    run["rows"] = [r for r in run["rows"] if r["arm"] != arm]
    assert not runs.verify(runs={name: run}, identities=False)["ok"]


def _stamped():
    name = next(n for n, run in SHIPPED.items() if runs.kind(run) == "eval" and "reproduced" not in run["produced_by"])
    return copy.deepcopy(SHIPPED[name])


@pytest.mark.parametrize("part", ["code", "corpus_sha256", "cases_sha256", "commit"])
def test_a_changed_identity_is_stale(part):
    run = _stamped()
    assert runs.match(run)["status"] in ("current", "as of commit")
    by = run["produced_by"]
    by[part] = "0" * 7 if part == "commit" else {"x": "0"} if part == "cases_sha256" else "0" * 16
    got = runs.match(run)
    assert got["status"] == "stale", got
    del by[part]
    assert runs.match(run)["status"] == "stale"


def test_the_tree_hashes_what_provenance_records(cfg):
    """`identity` (what verify computes from the tree or a commit) and `provenance` (what a run records)
    are one recipe: on the shipped corpus, cases and adapters they agree part for part."""
    from rag_vs_ft import evaluate
    by = evaluate.provenance(cfg, "heldout4", "finetuned")
    ident = runs.identity(runs.Tree(), "heldout4", list(by["adapters"]))
    assert {k: by[k] for k in ident} == ident


def test_a_run_without_identity_or_made_on_a_changed_tree_is_stale():
    name, run = _one("plan")
    bare = copy.deepcopy(run)
    del bare["produced_by"]["code"]
    assert runs.match(bare)["status"] == "stale"
    run["produced_by"] |= {"dirty": True, "code": "f" * 16}
    assert runs.match(run)["status"] == "stale"


def test_an_edited_readme_table_fails(tmp_path, capsys):
    text = runs.README.read_text()
    start = text.index("<!-- runs:reference -->")
    edited = text[:start] + text[start:].replace("|", "| 0.99 ", 1)
    path = tmp_path / "README.md"
    path.write_text(edited)
    r = runs.verify(path, runs=SHIPPED, identities=False)
    assert r["readme"] == ["table reference differs from its runs"] and not r["ok"]
    assert runs.render(edited, SHIPPED) == text, "render puts back what the runs say"


def test_runs_verify_command(capsys):
    assert cli.main(["runs", "--verify", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and set(out["runs"]) == set(SHIPPED)
