"""Reading cases and recommendations (rules a person can check), and retrieval that finds what applies."""
import pytest

from rag_vs_ft import concepts, fit, retrieve, soap

CREDENCE = ("In adults with type 2 diabetes and albuminuric CKD (eGFR 30 or more, UACR above 300 mg/g) already "
            "on a maximally tolerated ACE inhibitor or ARB, add canagliflozin 100 mg once daily to lower the risk "
            "of kidney failure, cardiovascular events and heart failure hospitalization.")
EMPEROR_PRESERVED = ("In symptomatic heart failure with LVEF above 40% (HFmrEF or HFpEF) and raised natriuretic "
                     "peptides, with or without diabetes, add empagliflozin 10 mg once daily to diuretics and usual "
                     "care to reduce heart failure hospitalization.")
SOUL = ("In adults with type 2 diabetes and established atherosclerotic cardiovascular disease and/or CKD, oral "
        "semaglutide titrated to 14 mg once daily is an evidence-based tablet option to reduce MACE.")
HFPEF_NO_DM = ("79-year-old man with HFpEF, LVEF 58%, BMI 33, no diabetes; NT-proBNP 980 pg/mL, eGFR 65. "
               "Takes furosemide 40 mg daily.")


def test_problems_come_in_order_with_the_presenting_one_first_and_negations_left_out():
    assert concepts.problems(HFPEF_NO_DM) == ["hfpef", "obesity"]
    assert concepts.negated(HFPEF_NO_DM) == {"t2d"}
    # the presenting problem first, then the comorbidities in the order the case names them
    assert concepts.problems("A 67-year-old man with type 2 diabetes and hypertension has AFib found on an "
                             "ECG.") == ["af", "t2d", "hypertension"]
    assert concepts.problems("72-year-old with T2DM and CKD G3a is admitted to the ward with community-acquired "
                             "pneumonia.") == ["cap", "t2d", "ckd"]
    assert concepts.problems("Woman with heart failure, EF 30%.") == ["hfref"]
    assert "ckd" in concepts.problems("Man with T2DM; eGFR 47, UACR 610 mg/g.")


def test_applicability_rules_out_the_wrong_population():
    assert fit.applicability(CREDENCE, HFPEF_NO_DM) == 0.0, "needs diabetes; the case says no diabetes"
    assert fit.applicability(EMPEROR_PRESERVED, HFPEF_NO_DM) == 1.0, "'with or without diabetes' is no requirement"
    assert fit.applicability(EMPEROR_PRESERVED, "Man with HFrEF, LVEF 30%.") == 0.0, "the other EF class"
    assert [set(g) for g in concepts.needs_groups(SOUL)] == [{"t2d"}, {"ascvd", "ckd"}]
    assert fit.applicability(SOUL, "Woman with type 2 diabetes and a myocardial infarction in 2021.") == 1.0
    assert fit.applicability(SOUL, "Woman with type 2 diabetes.") == 0.5
    assert concepts.needs("Offer catheter ablation to patients with symptomatic AF to reduce stroke.") == {"af"}


def test_subjective_and_objective_restate_only_the_case():
    s, o = soap.restate(HFPEF_NO_DM)
    assert s == "79-year-old man with HFpEF, no diabetes; Takes furosemide 40 mg daily."
    assert o == "LVEF 58%; BMI 33; NT-proBNP 980 pg/mL, eGFR 65."
    assert soap.medicines(HFPEF_NO_DM) == "furosemide 40 mg daily"


def test_the_models_assessment_stops_before_a_number_the_case_never_stated():
    assert soap.grounded_assessment("HFpEF with obesity, NYHA II, LDL 9.1 mmol/L, eGFR 65.", HFPEF_NO_DM) == \
        "HFpEF with obesity, NYHA II."
    assert soap.grounded_assessment("T2DM G3a A2 B1", HFPEF_NO_DM) == \
        "Heart failure with preserved or mildly reduced ejection fraction, with obesity."


def test_hybrid_retrieval_finds_af_evidence_for_an_af_case_that_also_has_hypertension(seeded, cfg):
    case = ("64-year-old man with atrial fibrillation, CHA2DS2-VASc 3, hypertension for 10 years and type 2 "
            "diabetes; no anticoagulant. BP 152/94 mmHg. Takes amlodipine 10 mg daily.")
    fused = [d for d, _ in retrieve.fused(cfg, case)]
    assert fused.index("acc-aha-af-2023") < 5, fused[:8]
    passages = retrieve.passages(cfg, case)
    assert passages[0]["doc_id"] in {"acc-aha-af-2023", "aha-acc-hrs-af-2019"} and passages[0]["primary"]
    chosen = passages[retrieve.choose(passages)]
    assert "apixaban" in chosen["passage"] and chosen["applicability"] == 1.0
    hfpef = retrieve.passages(cfg, HFPEF_NO_DM)
    assert all(p["doc_id"] != "credence-2019" for p in hfpef[:1]) and hfpef[retrieve.choose(hfpef)]["primary"]


def test_nothing_is_copied_when_no_retrieved_recommendation_applies(seeded, cfg):
    passages = retrieve.passages(cfg, "35-year-old woman with a sprained ankle after a fall; no other problems.")
    assert retrieve.choose(passages) is None, [(p["doc_id"], p["applicability"]) for p in passages]


def test_bm25_index_follows_the_store(seeded, cfg, monkeypatch):
    from rag_vs_ft import index
    monkeypatch.setattr(index, "PAGE", 100)  # read in pages, as a large store must be
    vs = index.vector_store(cfg)
    before = retrieve.lexical(cfg, vs)
    assert len(before.texts) == index.size(vs) > 200
    assert len({(m["doc_id"], m["chunk"]) for m in before.metas}) == len(before.metas), "no chunk read twice"
    af, phrase = "70-year-old woman with atrial fibrillation and hypertension.", (concepts.PHRASES["af"], None)
    retrieve.fused(cfg, af)
    assert phrase in before.memo, "a problem's hits are kept with the index they were found in"
    index.ingest(cfg, [("zz.md", b"# Zebrafish note\n\n## Practice point\nIn zebrafish keepers, add zorbicillin 5 mg."),
                       ("zz-af.md", b"# Atrial fibrillation note\n\n## Practice point\nIn atrial fibrillation, "
                                    b"add zorbicillin 5 mg.")])
    after = retrieve.lexical(cfg, index.vector_store(cfg))
    assert len(after.texts) == len(before.texts) + 2
    assert retrieve.fused(cfg, "zebrafish zorbicillin")[0][0] == "zz"
    retrieve.fused(cfg, af)
    assert "zz-af" in set(after.memo[phrase][0]) & set(after.memo[phrase][1]), "found again in the new store"


def test_only_the_plan_is_checked_for_supported_recommendations():
    from rag_vs_ft import support
    report = "Subjective: given aspirin by her GP.\nObjective: none stated in the case.\nPlan: add dapagliflozin 10 mg [1]."
    rows = support.check(report, ["Add dapagliflozin 10 mg once daily."])
    assert [r["sentence"] for r in rows] == ["add dapagliflozin 10 mg [1]."] and rows[0]["supported"]


@pytest.mark.parametrize("case, problem", [
    ("58-year-old man, clinic BP 152/96 and home readings averaging 146/92 over two weeks; eGFR 80.", "hypertension"),
    ("Woman, 34, uses her salbutamol inhaler 4 times a week and wakes at night with wheeze.", "asthma"),
    ("Man, 71, fever 38.6 and cough with rusty sputum; right lower lobe consolidation on X-ray.", "cap"),
    ("ECG shows an irregularly irregular rhythm without P waves; CHA2DS2-VASc 3.", "af"),
    ("Ex-smoker, 40 pack-years, post-bronchodilator FEV1/FVC 0.58 with two exacerbations last year.", "copd"),
    ("Loud snoring and witnessed pauses in breathing at night, daytime sleepiness, BMI 33.", "osa"),
])
def test_a_case_that_only_states_findings_gets_its_problem(case, problem):
    assert concepts.problems(case)[0] == problem and problem in concepts.stated(case)


def test_findings_never_outrank_a_problem_named_in_words():
    case = "59-year-old woman with HFpEF (LVEF 61%) and obesity, BMI 39. NT-proBNP 420 pg/mL, BP 142/86."
    assert concepts.problems(case)[:2] == ["hfpef", "obesity"] and "hypertension" not in concepts.stated(case)
    assert concepts.problems("BP 128/78 on one visit, no other readings.") == []


MATINEE = ("For adults with COPD who still have moderate or severe exacerbations on triple inhaled therapy and have "
           "blood eosinophils of 300 cells/uL or more, add mepolizumab 100 mg subcutaneously every 4 weeks.")
CLEAR = ("For patients who cannot take a statin and have or are at high risk of cardiovascular disease, bempedoic "
         "acid 180 mg orally once daily lowers LDL cholesterol by about 20%.")
CAPE_COD = ("In adults admitted to intensive care with severe bacterial CAP (without influenza), start hydrocortisone "
            "200 mg per day IV within 24 hours.")


def test_a_threshold_in_the_population_is_checked_against_the_cases_number():
    copd = "74-year-old woman with COPD on triple therapy, two exacerbations this year; eosinophils {} cells/uL."
    assert fit.applicability(MATINEE, copd.format(260)) == 0.0
    assert fit.applicability(MATINEE, copd.format(340)) == 1.0
    assert fit.limits("adults with a BMI of 30 or more, or 27 or more with a weight-related condition") == [
        ("bmi", ">=", 27.0)]


def test_settings_and_intolerances_a_population_requires():
    outpatient = "37-year-old woman with CAP: fever, cough, right lower lobe consolidation; alert, no comorbidities."
    assert fit.applicability(CAPE_COD, outpatient) == 0.5
    assert fit.applicability(CAPE_COD, "Severe CAP, intubated in the emergency department.") == 1.0
    assert fit.applicability(CLEAR, "Man with two MIs; LDL 94 mg/dL on rosuvastatin 40 mg.") < 1.0
    assert fit.applicability(CLEAR, "Woman with PAD who had muscle pain on atorvastatin and declines any "
                                         "further statin; LDL 141 mg/dL.") == 1.0
    assert concepts.problems("Severe CAP, intubated in the ICU.")[0] == "cap"


def test_history_comes_after_the_problem_at_hand():
    case = ("58-year-old man, 5 months after a non-ST-elevation myocardial infarction treated with a stent. Home BP "
            "averages 136/86; clinic readings 140/86. LVEF 55%.")
    assert concepts.problems(case)[0] == "hypertension" and "hfpef" not in concepts.problems(case)
    assert concepts.problems("A 70-year-old woman with hypertension is seen today for heart failure with preserved "
                             "ejection fraction (LVEF 52%).")[0] == "hfpef"


STEP = ("In adults aged 60-80 with hypertension and no prior stroke, aim for systolic blood pressure 110 to below "
        "130 mmHg using olmesartan 20-40 mg daily.")


def test_a_populations_age_range_is_checked_against_the_patients_age():
    assert fit.applicability(STEP, "A 52-year-old man with hypertension, home BP averaging 150/95.") == 0.0
    assert fit.applicability(STEP, "A 71-year-old man with hypertension, home BP averaging 150/95.") == 1.0
    assert fit.applicability(STEP, "Hypertension in a woman aged 84; home BP 150/80.") == 0.0
    assert fit.outside("In adults aged 50 or older with type 2 diabetes, add x.", "A 45-year-old with T2D.")


def test_a_risk_score_is_not_the_disease():
    case = ("61-year-old woman, 10-year ASCVD risk 16% and a coronary artery calcium score of 250; myalgia on two "
            "statins, now declines any further statin; LDL 168 mg/dL. Type 2 diabetes on metformin.")
    assert "ascvd" not in concepts.problems(case)
    assert fit.applicability(CLEAR, case) == 1.0, "'have or are at high risk of' requires no disease"
    assert "ascvd" not in concepts.problems("A man at high risk of stroke.")


def test_a_setting_in_the_past_is_not_todays():
    ward = ("Man of 63 admitted to the ward with CAP: fever, right lower lobe consolidation, SpO2 93% on air. "
            "Penicillin allergy (ICU stay after IV co-amoxiclav in 2015).")
    assert "icu" not in concepts.problems(ward) and fit.applicability(CAPE_COD, ward) == 0.5
    assert "icu" in concepts.problems("Admitted to intensive care today with severe CAP; in 2015 he had a stent.")


def test_a_raised_natriuretic_peptide_with_a_normal_lvef_is_hfpef():
    case = ("Breathless on one flight of stairs with ankle oedema. Echo LVEF 60%, E/e' 15; NT-proBNP 900 pg/mL. "
            "Known hypertension on amlodipine.")
    assert concepts.problems(case)[0] == "hfpef"
    assert "hfpef" not in concepts.problems("Hypertension on amlodipine; echo LVEF 60%; NT-proBNP 90 pg/mL.")


def test_a_bmi_threshold_decides_by_its_own_number():
    select = ("In adults with established cardiovascular disease and a BMI of 27 or more without diabetes, add "
              "semaglutide 2.4 mg subcutaneously once weekly.")
    surmount = ("For adults with a BMI of 30 or more, or 27 or more with a weight-related complication, offer "
                "tirzepatide once weekly.")
    stroke = "70-year-old man, ischaemic stroke last year, BMI 29; no diabetes. On atorvastatin 80 mg."
    assert fit.applicability(select, stroke) == 1.0
    assert fit.applicability(select, stroke.replace("BMI 29", "BMI 25")) == 0.0
    assert fit.applicability(surmount, "A 35-year-old woman, BMI 28.4, wants to lose weight; no other problems.") < 1.0
    assert fit.applicability(surmount, "A 35-year-old woman, BMI 31, wants to lose weight.") == 1.0


def test_a_relatives_disease_is_not_the_patients():
    case = "A 58-year-old man with type 2 diabetes on metformin; his father had a myocardial infarction at 60."
    assert "ascvd" not in concepts.problems(case) and fit.applicability(SOUL, case) == 0.5
    assert "ascvd" not in concepts.problems("Family history of premature coronary disease; BP 150/95 at home.")


@pytest.mark.parametrize("case, problem", [  # after the visit verb, a "whose", or an acute finding
    ("A 70-year-old man with hypertension and type 2 diabetes is seen today in the arrhythmia clinic 3 months after "
     "cardioversion for persistent atrial fibrillation.", "af"),
    ("A 60-year-old woman with hypertension and hypothyroidism is admitted to intensive care with severe "
     "pneumonia and a PaO2/FiO2 of 150.", "cap"),
    ("A 71-year-old woman with type 2 diabetes was discharged a week ago after a first admission for heart failure "
     "with reduced ejection fraction (LVEF 30%).", "hfref"),
    ("A 74-year-old man with type 2 diabetes and CKD presents after 3 days of fever and cough. Temperature 38.7 C; "
     "the chest x-ray shows right lower lobe consolidation.", "cap"),
    ("A 66-year-old woman with hypertension and type 2 diabetes whose atrial fibrillation was found 2 months ago "
     "is on apixaban.", "af"),
])
def test_the_problem_at_hand_comes_before_the_background(case, problem):
    assert concepts.problems(case)[0] == problem


def test_a_relative_who_comes_along_is_not_a_relatives_disease():
    assert concepts.problems("15-year-old boy seen today with his mother for asthma; salbutamol as needed.") == ["asthma"]


def test_ldl_in_mmol_per_litre_is_checked_against_a_threshold_in_mg_per_decilitre():
    fourier = ("In patients with ASCVD whose LDL cholesterol stays at 70 mg/dL or more despite a maximally tolerated "
               "statin, add evolocumab 140 mg every 2 weeks.")
    case = "58-year-old man, 1 year after an NSTEMI; LDL {} on atorvastatin 80 mg."
    assert fit.applicability(fourier, case.format("2.6 mmol/L")) == 1.0
    assert fit.applicability(fourier, case.format("1.5 mmol/L")) == 0.0
    assert fit.applicability(fourier, case.format("58 mg/dL")) == 0.0


@pytest.mark.parametrize("text, expected", [
    # a negation governs its whole list, not 40 characters of it
    ("No history of heart failure, chronic kidney disease, atrial fibrillation or type 2 diabetes.",
     {"hf": "no", "ckd": "no", "af": "no", "t2d": "no"}),
    ("She has never been overweight (BMI 23).", {"obesity": "no"}),
    # a relative pronoun starts a new assertion; a closed bracket governs nothing after it
    ("Adults without diabetes who have CKD.", {"t2d": "no", "ckd": "yes"}),
    ("A man with CKD G3a (eGFR 52, UACR 18 mg/g, no diabetes), stable angina and gout.",
     {"ckd": "yes", "t2d": "no", "ascvd": "yes"}),
    # a pseudo-negation denies nothing; a family member's condition is not the patient's
    ("He has not only type 2 diabetes but also hypertension.", {"t2d": "yes", "hypertension": "yes"}),
    ("Her father has type 2 diabetes and she has hypertension.", {"t2d": "either", "hypertension": "yes"}),
    ("Myocardial infarction was ruled out; she has hypertension.", {"ascvd": "no", "hypertension": "yes"}),
])
def test_a_cue_governs_its_clause(text, expected):
    assert {cond: state for _, cond, state in concepts.mentions(text, measured=False)} == expected


def test_history_and_the_problem_at_hand_read_list_items_and_brackets():
    # "4 years ago" dates the item it stands in, not the diabetes before it
    assert concepts.problems("67-year-old man with type 2 diabetes, a myocardial infarction 4 years ago and CKD "
                             "(eGFR 54).") == ["t2d", "ckd", "ascvd"]
    # the clause goes on around a bracket: "admitted ... (10 hours ago) with severe CAP"
    assert concepts.presented("71-year-old woman with hypertension and T2DM on metformin, now admitted to ICU "
                              "(10 hours ago) with severe CAP. Right lower lobe consolidation.") == "cap"
    # a presenting verb governs its object, not every problem its clause lists
    assert concepts.presented("A 70-year-old man presents with three days of worsening breathlessness, productive "
                              "cough and fever, on a background of hypertension and type 2 diabetes.") is None


def test_a_sweep_measures_a_constant_on_development_sets_and_restores_it(seeded, cfg):
    """`eval --plan-only --sweep`: the shipped value changes no Plan, a presenting verb that reaches no
    word changes some, and the constant is the shipped one afterwards; held-out sets are refused."""
    from rag_vs_ft import evaluate
    from rag_vs_ft.errors import UserError
    shipped = concepts.CUE_WORDS
    r = evaluate.sweep(cfg, ["dev2"], "concepts.CUE_WORDS", [0])
    by = {s["value"]: s for s in r["sweep"]}
    assert set(by) == {0, shipped} and by[shipped]["plans_changed"] == [] and by[0]["plans_changed"]
    assert concepts.CUE_WORDS == shipped and r["sweep"] == evaluate.sweep_summary(r["rows"], shipped)
    with pytest.raises(UserError, match="development sets only"):
        evaluate.sweep(cfg, ["heldout"], "concepts.CUE_WORDS", [3])
    with pytest.raises(UserError, match="not a constant"):
        evaluate.sweep(cfg, ["dev2"], "index.PAGE", [3])


def test_an_ended_episode_is_read_near_its_cue():
    """The development sets' Plans do not depend on how far "had" or "treated for" reach (sweep); these
    examples do: a finished pneumonia is history, a pneumonia the patient "had three days of" is not."""
    assert "cap" not in concepts.problems("A 70-year-old man with COPD. He was treated for pneumonia last month.")[:1]
    assert "cap" in concepts.problems("A 58-year-old man had three days of cough and fever, then right lower lobe "
                                      "pneumonia on chest X-ray. Hypertension.")
