"""Each metric on hand-written reports with known answers."""
import pytest

from rag_vs_ft import cases, evaluate, memorize, support

FACTS = [{"fact": "SGLT2 inhibitor", "any_of": ["SGLT2", "dapagliflozin", "empagliflozin"]},
         {"fact": "ACE inhibitor or ARB", "any_of": ["ACE inhibitor", "lisinopril", "losartan", "ARB"]},
         {"fact": "finerenone", "any_of": ["finerenone"]}]


def test_key_fact_recall_counts_synonyms():
    assert evaluate.key_fact_recall("Plan: add Empagliflozin 10 mg; continue losartan.", FACTS) == pytest.approx(2 / 3)
    assert evaluate.key_fact_recall("Plan: metformin.", FACTS) == 0
    assert evaluate.key_fact_recall("SGLT2i, lisinopril and finerenone", FACTS) == 1
    assert evaluate.key_fact_recall("Low-carbohydrate diet; SGLT2 inhibitors.", FACTS) == pytest.approx(1 / 3)  # no ARB


def test_recall_counts_only_what_the_report_adds():
    case = {"case": "A 61-year-old man with type 2 diabetes on metformin and lisinopril; eGFR 48, UACR 300 mg/g.",
            "key_facts": FACTS}
    assert [f["fact"] for f in evaluate.new_facts(case)] == ["SGLT2 inhibitor", "finerenone"]
    restated = ("Subjective: type 2 diabetes on metformin and lisinopril; add dapagliflozin.\n"
                "Objective: eGFR 48.\nAssessment: diabetic kidney disease.\nPlan: continue lisinopril.")
    assert evaluate.key_fact_recall(restated, FACTS) == pytest.approx(2 / 3), "the old figure credits the restatement"
    assert evaluate.added_recall(restated, case) == 0, "lisinopril is the case's; dapagliflozin only in Subjective"
    own = restated.replace("Plan: continue lisinopril.", "Plan: add dapagliflozin 10 mg [1]; then finerenone.")
    assert evaluate.added_recall(own, case) == 1
    assert evaluate.added_recall("add dapagliflozin", case) == pytest.approx(1 / 2), "no headings: taken whole"
    told = {"case": "on dapagliflozin, lisinopril and finerenone", "key_facts": FACTS}
    assert evaluate.added_recall(own, told) is None, "nothing left to add: not scored"


def test_facts_no_document_states_are_scored_apart():
    """A fact no document states is left out of recall (no method can reach it) and reported apart."""
    beyond = [FACTS[0], FACTS[2] | {"beyond_corpus": True}]
    case = {"case": "A man with type 2 diabetes.", "key_facts": beyond}
    report = "Assessment: kidney disease.\nPlan: add dapagliflozin [1]."
    assert [f["fact"] for f in evaluate.new_facts(case)] == ["SGLT2 inhibitor"]
    assert evaluate.added_recall(report, case) == 1
    assert evaluate.beyond_recall(report, case) == 0
    assert evaluate.beyond_recall(report + " Then finerenone.", case) == 1
    assert evaluate.beyond_recall(report, {"case": "x", "key_facts": FACTS}) is None


def test_upload_used_and_wrong_population():
    case = {"case": "x", "key_facts": FACTS, "treatment": ["allopurinol"], "uploads": ["gout-2022"],
            "not_for": ["gout-children-2021", "sprint-2015"]}
    assert evaluate.upload_used("Plan: start allopurinol 100 mg [1].", ["gout-2022"], case) == 1
    assert evaluate.upload_used("Plan: start allopurinol 100 mg [1].", ["sprint-2015"], case) == 0
    assert evaluate.upload_used("Plan: aim for a BP below 130/80 [1].", ["gout-2022"], case) == 0
    assert evaluate.upload_used("Plan: x", [], {"case": "x", "key_facts": FACTS}) is None
    assert evaluate.wrong_population(["sprint-2015"], case) == 1
    assert evaluate.wrong_population(["gout-2022"], case) == 0
    assert evaluate.wrong_population([], case) is None


def test_citation_precision():
    passages = ["Practice point: add dapagliflozin 10 mg once daily in CKD.", "Apixaban 5 mg twice daily in AF."]
    text = "Plan: Add dapagliflozin 10 mg once daily [1]. Start apixaban 5 mg twice daily [1]."
    assert evaluate.citation_precision(text, passages) == 0.5  # the second cites the wrong passage
    assert evaluate.citation_precision("Plan: Add dapagliflozin 10 mg once daily [2].", passages) == 0
    assert evaluate.citation_precision("Plan: no citations here.", passages) is None
    assert evaluate.citation_precision("Plan: add dapagliflozin 10 mg [7].", passages) == 0


def test_support_needs_the_numbers_too():
    assert support.support("Add dapagliflozin 25 mg once daily", "add dapagliflozin 10 mg once daily") == 0
    assert support.support("Add dapagliflozin 10 mg once daily", "add dapagliflozin 10 mg once daily") == 1


def test_unsupported_claims_are_names_from_nowhere():
    got = evaluate.unsupported_claims("Start empagliflozin, continue lisinopril, check HbA1c and BNP.",
                                      "On lisinopril 10 mg.", ["HbA1c should be checked"])
    assert got == ["bnp", "empagliflozin"]


def test_memorization_share_and_spans():
    train = ["Subjective: Headache for two weeks. Plan: Start amlodipine 5 mg daily and recheck in four weeks."]
    report = "Plan: Start amlodipine 5 mg daily and recheck in four weeks. Also walk."
    o = memorize.overlap(report, train)
    assert o["nearest"] == 0
    assert report[o["copied"][0][0]:o["copied"][0][1]] == "Plan: Start amlodipine 5 mg daily and recheck in four weeks"
    assert o["share"] == pytest.approx(4 / 6)  # 13 words -> 6 8-grams; the 11 copied words hold 4
    assert memorize.overlap("Entirely new words in this short report about nothing at all", train)["share"] == 0


def test_rouge_l():
    assert evaluate.rouge_l("the cat sat on the mat", "the cat sat on the mat") == 1
    assert evaluate.rouge_l("the cat sat on the mat", "the cat lay on the mat") == pytest.approx(5 / 6)
    assert evaluate.rouge_l("", "x") == 0


def test_bootstrap_interval_brackets_the_mean():
    r = evaluate.bootstrap([0, 0.5, 1, 1, 1, 0, 1, 0.5])
    assert r["mean"] == 0.625 and r["ci95"][0] < 0.625 < r["ci95"][1]
    assert evaluate.bootstrap([None, None]) == {"mean": None, "ci95": [None, None]}


def test_compose_case_from_fields():
    assert cases.compose(71, "Woman", "HFpEF", "NT-proBNP 900 pg/mL", "furosemide 40 mg") == (
        "71-year-old woman with HFpEF. Labs: NT-proBNP 900 pg/mL. Medications: furosemide 40 mg.")


def test_a_citation_after_the_full_stop_belongs_to_that_sentence():
    passages = ["Practice point: add dapagliflozin 10 mg once daily in CKD."]
    assert support.sentences("Plan: Add dapagliflozin 10 mg once daily. [1]") == ["Add dapagliflozin 10 mg once daily [1]."]
    assert evaluate.citation_precision("Plan: Add dapagliflozin 10 mg once daily. [1]", passages) == 1


def test_paired_bootstrap_sees_a_consistent_difference_that_unpaired_intervals_hide():
    # every case improves by 0.1, but cases differ a lot: unpaired intervals overlap, the paired one excludes 0
    base = [0.0, 0.2, 0.4, 0.6, 0.8, 0.1, 0.3, 0.5, 0.7, 0.9]
    rows = [{"case": i, "mode": "a", "m": b + 0.1} for i, b in enumerate(base)] + \
           [{"case": i, "mode": "b", "m": b} for i, b in enumerate(base)]
    a, b = evaluate.bootstrap([r["m"] for r in rows[:10]]), evaluate.bootstrap(base)
    assert a["ci95"][0] < b["ci95"][1], "unpaired intervals overlap"
    d = evaluate.paired(rows, "a", "b", "m")
    assert d["mean"] == pytest.approx(0.1) and d["cases"] == 10 and d["excludes_zero"]
    assert d["ci95"] == [pytest.approx(0.1), pytest.approx(0.1)]
    noisy = rows[:10] + [{"case": i, "mode": "b", "m": b + (0.3 if i % 2 else -0.3)} for i, b in enumerate(base)]
    assert not evaluate.paired(noisy, "a", "b", "m")["excludes_zero"]


def test_citation_faithfulness_checks_the_drug_and_dose_in_the_cited_passage():
    passages = ["Add dapagliflozin 10 mg once daily in CKD.", "Add canagliflozin 100 mg once daily."]
    assert evaluate.citation_faithfulness("Plan: add dapagliflozin 10 mg once daily [1].", passages) == 1.0
    assert evaluate.citation_faithfulness("Plan: add empagliflozin 10 mg daily [1].", passages) == 0.0, "other drug"
    assert evaluate.citation_faithfulness("Plan: add canagliflozin 10 mg daily [2].", passages) == 0.0, "other dose"
    assert evaluate.citation_faithfulness("Plan: review in 3 months [1].", passages) is None, "names no drug"


def test_invented_findings_are_numbers_and_names_the_case_never_stated():
    case = "70-year-old man with HFrEF; BP 110/70, eGFR 50. Takes ramipril 5 mg."
    report = "Subjective: breathless.\nObjective: BP 110/70, LDL 3.1, eGFR 50, on bisoprolol.\nPlan: add 10 mg."
    assert evaluate.invented_findings(report, case) == ["3.1", "bisoprolol", "ldl"]
    assert evaluate.confident_miss("Plan: add ramipril [1].", FACTS) is True
    assert evaluate.confident_miss("Plan: add empagliflozin [1].", FACTS) is False
    assert evaluate.confident_miss("Plan: add empagliflozin.", FACTS) is None
    assert evaluate.retrieval(["x", "gold"], ["gold"]) == {"recall_at_k": 1.0, "mrr": 0.5}


def test_a_set_with_uploads_is_evaluated_on_its_own_store(tmp_path, cfg):
    import shutil
    from dataclasses import replace
    from rag_vs_ft import index
    corpus = tmp_path / "corpus"
    (corpus / "research").mkdir(parents=True)
    for name in ("sprint-2015.md", "gina-2019.md"):
        shutil.copy(cfg.corpus_dir / "research" / name, corpus / "research" / name)
    (corpus / "uploads" / "mini").mkdir(parents=True)
    (corpus / "uploads" / "mini" / "gout-2020.md").write_text("---\ntitle: Gout\ndate: 2020-03-02\n---\n"
                                                              "Key point: start allopurinol 100 mg daily.\n")
    mine = replace(cfg, corpus_dir=corpus)
    store = evaluate.with_uploads(mine, "mini")
    assert store.data_dir == mine.eval_dir / "stores" / "mini"
    assert sorted(d["id"] for d in index.documents(store)) == ["gina-2019", "gout-2020", "sprint-2015"]
    assert not index.seeded(mine), "the user's own store is never touched"
    assert evaluate.with_uploads(mine, "nothing-uploaded") is mine


def test_the_first_run_of_an_unread_held_out_set_marks_it_read(tmp_path, cfg):
    import json
    from dataclasses import replace
    (tmp_path / "cases").mkdir()
    ledger = {"about": "x", "sets": {"heldout9": {"role": "held-out", "author": "did not see the code",
                                                  "first_run": None, "commit": None, "read": False}}}
    (tmp_path / "cases" / "ledger.json").write_text(json.dumps(ledger))
    mine = replace(cfg, corpus_dir=tmp_path)
    entry = cases.record_run(mine, "heldout9", "abc1234")
    assert entry["read"] is True and entry["commit"] == "abc1234" and entry["first_run"]
    assert cases.ledger(mine)["heldout9"] == entry
    assert cases.record_run(mine, "heldout9", "def5678") is None, "read once, read for good"
