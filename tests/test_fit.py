"""Reading populations on any topic: three verdicts, checks about people, and uploads on topics the
condition vocabulary does not know chosen for the patients they fit. Each case below is one a user hit."""
import pytest

from rag_vs_ft import concepts, fit, index, retrieve

# ---------------------------------------------------------------- the verdict and its checks

GOUT = ("For adults with gout who have had two or more flares in the past year and who have not taken a "
        "urate-lowering drug before, start allopurinol 100 mg daily and increase every 2 to 5 weeks.")


def test_a_population_the_vocabulary_does_not_know_is_unknown_not_a_veto():
    case = "A 58-year-old man with hypertension has had three gout flares this year. Takes amlodipine 10 mg."
    assert fit.verdict(GOUT, case) == (fit.UNKNOWN, [])
    assert fit.population(GOUT).endswith("have not taken a urate-lowering drug before"), "not its dosing notes"


@pytest.mark.parametrize("case, reason", [
    ("A 58-year-old man with gout flares; takes allopurinol 300 mg daily.", "has (allopurinol)"),
    ("A 9-year-old boy with gout flares.", "age 9 is outside 18-200"),
])
def test_what_a_patient_takes_and_their_age_contradict(case, reason):
    verdict, reasons = fit.verdict(GOUT, case)
    assert verdict == fit.CONTRADICTED and any(reason in r for r in reasons), reasons


MATINEE = ("For adults with COPD who still have moderate or severe exacerbations on triple inhaled therapy and have "
           "blood eosinophils of 300 cells/uL or more, add mepolizumab 100 mg subcutaneously every 4 weeks.")


def test_a_population_defined_by_its_treatment_is_checked_against_the_medicine_list():
    lama_alone = "A 66-year-old woman with COPD, two exacerbations this year, eosinophils 420. Takes tiotropium alone."
    triple = lama_alone.replace("tiotropium alone", "fluticasone furoate/umeclidinium/vilanterol daily")
    assert fit.verdict(MATINEE, lama_alone)[0] == fit.CONTRADICTED
    assert fit.verdict(MATINEE, triple)[0] == fit.FITS
    fourier = ("In patients with ASCVD whose LDL cholesterol stays at 70 mg/dL or more despite a maximally tolerated "
               "statin, add evolocumab 140 mg every 2 weeks.")
    assert fit.verdict(fourier, "Man with a past MI, LDL 130 mg/dL. Takes aspirin only; no statin ever.")[0] == \
        fit.CONTRADICTED
    assert fit.verdict(fourier, "Man with a past MI, LDL 130 mg/dL on atorvastatin 80 mg daily.")[0] == fit.FITS


OUD = ("Offer buprenorphine to adults with moderate-to-severe opioid use disorder who are not already on opioid "
       "agonist treatment, including people who use fentanyl: start sublingual buprenorphine-naloxone 4 to 8 mg.")
MONTHLY = ("For adults with moderate or severe opioid use disorder who have been taking transmucosal (sublingual) "
           "buprenorphine at a stable dose of 8 to 24 mg daily for at least 7 days, monthly extended-release "
           "buprenorphine is a suitable alternative to daily dosing.")


def test_not_already_on_a_treatment_asks_for_a_patient_who_is_not_on_it():
    naive = "A 28-year-old woman with severe opioid use disorder who smokes fentanyl daily; no medicines."
    on_it = "A 39-year-old man with opioid use disorder on sublingual buprenorphine-naloxone 16/4 mg daily."
    assert fit.verdict(OUD, naive)[0] == fit.UNKNOWN, "'not already on' is not a treatment tried"
    assert fit.verdict(OUD, on_it)[0] == fit.CONTRADICTED
    assert fit.verdict(MONTHLY, on_it)[0] == fit.UNKNOWN, "the bracket's synonym and the drug after it count"
    assert fit.verdict(MONTHLY, naive)[0] == fit.CONTRADICTED


def test_a_bracket_that_explains_names_no_treatment_and_a_compound_term_is_one_term():
    hypopara = ("Adults with chronic hypoparathyroidism that is inadequately controlled on conventional therapy "
                "(persistent symptoms, hypercalciuria or kidney stones) should be offered palopegteriparatide.")
    case = "A 44-year-old woman with hypoparathyroidism after thyroidectomy; tingling despite calcitriol and calcium."
    assert fit.verdict(hypopara, case)[0] == fit.UNKNOWN
    mismatch = ("For adults with acute ischaemic stroke of unknown onset whose MRI shows a DWI-FLAIR mismatch, give "
                "intravenous alteplase 0.9 mg/kg.")
    woke = "A 76-year-old woman woke with left arm weakness. MRI: lesion bright on DWI, no FLAIR hyperintensity."
    assert not any("FLAIR" in r for r in fit.verdict(mismatch, woke)[1])
    assert fit.denied_terms("who carry a BRCA1 variant", "No pathogenic variant in BRCA1.") == ["BRCA1"]


def test_a_condition_the_case_does_not_mention_is_unknown_one_it_rules_out_contradicts():
    hf = "In adults with heart failure and LVEF 40% or less, start dapagliflozin 10 mg daily."
    assert fit.verdict(hf, "A 70-year-old man with atrial fibrillation on apixaban.")[0] == fit.UNKNOWN
    assert fit.verdict(hf, "A 70-year-old man with atrial fibrillation; no heart failure, LVEF 60%.")[0] == \
        fit.CONTRADICTED
    assert fit.verdict(hf, "A 70-year-old man with heart failure, LVEF 30%.")[0] == fit.FITS


def test_a_time_window_from_onset_is_checked_against_the_time_the_case_states():
    steroids = ("For adults presenting within two weeks of onset of sudden sensorineural hearing loss, offer oral "
                "prednisone 1 mg/kg daily.")
    late = "A 61-year-old man with hearing loss noticed on waking 3 weeks ago; he finished prednisone 4 days ago."
    early = late.replace("3 weeks ago", "5 days ago")
    assert fit.verdict(steroids, late)[0] == fit.CONTRADICTED
    assert fit.verdict(steroids, early)[0] == fit.UNKNOWN
    txa = "Give tranexamic acid 1 g to adults with mild-to-moderate head injury within 3 hours of injury."
    assert fit.too_late(txa, "He reached hospital 4.5 hours after the fall.")
    assert fit.too_late(txa, "He reached hospital 2 hours after the fall. He had an MI 3 years ago.") is None


def test_a_measure_the_vocabulary_reads_is_checked_on_any_topic_unless_both_sides_are_covered():
    lupus = ("In adults with active class III or IV lupus nephritis whose eGFR is above 45 mL/min/1.73 m2, add "
             "voclosporin 23.7 mg twice daily.")
    case = "A 29-year-old woman with lupus nephritis class IV; eGFR 41 mL/min/1.73 m2."
    assert fit.verdict(lupus, case) == (fit.CONTRADICTED, ["egfr 41 is not >= 45"])
    cystitis = ("For non-pregnant women with uncomplicated cystitis and an eGFR of 45 or more, give nitrofurantoin "
                "100 mg twice daily for 3 days; if eGFR is below 45 mL/min/1.73 m2, give pivmecillinam.")
    assert fit.verdict(cystitis, "A 56-year-old woman with cystitis; eGFR 39.")[0] == fit.UNKNOWN


def test_a_paraphrased_history_of_failure_still_fits():
    galcanezumab = ("Adults with episodic or chronic migraine who have failed two to four preventive drug classes "
                    "should be offered galcanezumab 240 mg then 120 mg monthly.")
    tried = "A 41-year-old woman with chronic migraine; topiramate and propranolol did not help. Takes sumatriptan."
    naive = "A 41-year-old woman with chronic migraine; has never taken a preventive. Takes sumatriptan."
    assert fit.verdict(galcanezumab, tried)[0] == fit.UNKNOWN, fit.verdict(galcanezumab, tried)
    assert fit.verdict(galcanezumab, naive)[0] == fit.CONTRADICTED


@pytest.mark.parametrize("who, years, inside", [("people aged 8 years and older", 6, False),
                                                ("people aged 8 years and older", 12, True),
                                                ("children aged 2 to 12 years", 4, True),
                                                ("children aged 2 to 12 years", 1, False),
                                                ("adolescents aged 12 to 17", 19, False),
                                                ("adults and children weighing 30 kg or more", 9, True)])
def test_age_ranges_with_one_digit(who, years, inside):
    span = fit.ages(who)
    assert span is not None or inside
    assert (span is None or span[0] <= years <= span[1]) == inside, span


def test_sex_pregnancy_weight_and_a_marker_the_case_rules_out():
    cases = {"postmenopausal women with osteoporosis, give romosozumab": "A 70-year-old man with osteoporosis.",
             "For pregnant women at high risk of pre-eclampsia, give aspirin 150 mg": "A 32-year-old woman, not pregnant.",
             "For non-pregnant women with cystitis, give nitrofurantoin": "A 28-year-old woman, 10 weeks pregnant.",
             "For adults and children weighing 30 kg or more, prescribe the nasal spray": "A 9-year-old girl. Weight 27 kg.",
             "For adults with early breast cancer who carry a germline BRCA1 or BRCA2 variant, add olaparib":
                 "A 56-year-old woman; germline testing found no pathogenic variant in BRCA1 or BRCA2."}
    for recommendation, case in cases.items():
        assert fit.verdict(recommendation, case)[0] == fit.CONTRADICTED, recommendation
    assert fit.verdict("For adults with HER2-negative early breast cancer, add abemaciclib",
                       "A 56-year-old woman; HER2 negative, ER positive.")[0] != fit.CONTRADICTED


# ---------------------------------------------------------------- reading the case

@pytest.mark.parametrize("case", ["A 30-year-old woman with type 1 diabetes seen in the diabetes clinic.",
                                  "A non-diabetic man, 50.", "A 45-year-old woman with pre-diabetes.",
                                  "A 31-year-old woman with gestational diabetes, HbA1c 6.8%."])
def test_diabetes_look_alikes_are_not_type_2(case):
    assert "t2d" not in concepts.problems(case)


def test_a_ruled_out_mi_and_a_finished_pneumonia_are_not_the_patients_problems():
    assert ("ascvd", "no") in [(c, s) for _, c, s in concepts.mentions("Chest pain last week; MI ruled out.")]
    case = ("A 60-year-old man seen after amoxicillin for pneumonia last month, now with three gout flares. "
            "Type 2 diabetes; BP 150/92.")
    assert "cap" not in concepts.problems(case)
    assert "cap" in concepts.problems("A 60-year-old man admitted with pneumonia; type 2 diabetes.")


# ---------------------------------------------------------------- an upload chosen for a matching case

TENECTEPLASE = b"""Intravenous tenecteplase for acute ischaemic stroke within 4.5 hours of onset.
Menon BK, Buck BH, Singh N.
Lancet. 2022;400(10347):161-169.
BACKGROUND: Tenecteplase is given as a single bolus, which is simpler than the alteplase infusion.
METHODS: Adults with disabling acute ischaemic stroke within 4.5 hours of onset were randomly assigned.
CONCLUSIONS: For adults with disabling acute ischaemic stroke within 4.5 hours of a known onset, give tenecteplase
0.25 mg/kg (maximum 25 mg) as a single intravenous bolus as an alternative to alteplase.
"""
STROKE = ("A 69-year-old man presents 50 minutes after the sudden onset of an acute ischaemic stroke: right arm "
          "weakness and slurred speech, NIHSS 11. CT shows no haemorrhage. BP 176/98 mmHg. Type 2 diabetes, HbA1c "
          "7.3%, and hypertension. Medications: metformin 1 g twice daily, ramipril 5 mg daily.")
GOUT_NOTE = b"""---
title: Urate-lowering therapy after recurrent gout flares
date: 2020-03-02
source: Rheumatology practice note
---
Treat to target: a serum urate below 6 mg/dL prevents flares and dissolves crystals.

Key point: """ + GOUT.encode() + b"\n"
GOUT_CASE = ("A 58-year-old man with hypertension (BP 152/94 mmHg) and CKD G3a, eGFR 52, is seen with his third gout "
             "flare this year: a hot, swollen first toe joint; serum urate 9.1 mg/dL. Medications: amlodipine 10 mg "
             "daily, ramipril 10 mg daily.")

@pytest.mark.parametrize("name, data, case, title, published, drug", [

    ("act-tenecteplase.txt", TENECTEPLASE, STROKE,
     "Intravenous tenecteplase for acute ischaemic stroke within 4.5 hours of onset", "2022", "tenecteplase"),
    ("gout-urate-lowering.md", GOUT_NOTE, GOUT_CASE,
     "Urate-lowering therapy after recurrent gout flares", "2020-03-02", "allopurinol")])
def test_an_upload_on_another_topic_is_titled_dated_and_chosen_over_a_comorbiditys_research(
        seeded, cfg, name, data, case, title, published, drug):
    r = index.ingest(cfg, [(name, data)])
    assert r.errors == []
    [doc] = r.documents
    assert (doc["title"], doc["published"]) == (title, published)
    shown = retrieve.passages(cfg, case)
    n = retrieve.choose(shown)
    assert n is not None and shown[n]["doc_id"] == doc["id"], [(p["doc_id"], p["verdict"]) for p in shown]
    assert drug in shown[n]["passage"], "the cited passage names the drug the Plan copies"


def test_the_opening_sentence_names_the_topic_when_a_comorbidity_outranks_it(seeded, cfg):
    """dev3's alcohol case: the whole note ranks the atrial fibrillation guideline (a comorbidity it fits)
    above the upload; its opening sentence, about alcohol withdrawal, ranks the upload first."""
    from rag_vs_ft import cases
    case = next(c for c in cases.load(cfg, "dev3") if c["id"] == "d3b-09")
    [path] = (cfg.corpus_dir / "uploads" / "dev3").glob(f"{case['uploads'][0]}.*")
    index.ingest(cfg, [(path.name, path.read_bytes())])
    own = []
    retrieve.fused(cfg, case["case"], own=own)
    assert own[0] != case["uploads"][0] and case["uploads"][0] in own[:retrieve.LEAD]
    shown = retrieve.passages(cfg, case["case"])
    n = retrieve.choose(shown)
    assert n is not None and shown[n]["doc_id"] == case["uploads"][0], [(p["doc_id"], p["verdict"]) for p in shown]
    assert "naltrexone" in shown[n]["passage"]


def test_no_research_is_copied_for_a_topic_nothing_in_the_store_is_about(seeded, cfg):
    index.ingest(cfg, [("act-tenecteplase.txt", TENECTEPLASE), ("gout-urate-lowering.md", GOUT_NOTE)])
    shown = retrieve.passages(cfg, "35-year-old woman with a sprained ankle after a fall; no other problems.")
    assert retrieve.choose(shown) is None, [(p["doc_id"], p["verdict"]) for p in shown]


def test_a_population_states_ranges_and_shares_and_an_alternative_decides_nothing():
    """dev3's eczema pair: a cream "for mild-to-moderate disease (IGA 2 to 3) covering no more than 20% of
    body surface area" does not fit a boy with IGA 4 over 38%; an "or" elsewhere in the population
    ("or who cannot use other topical treatments") no longer silences every threshold it states."""
    rec = ("Bottom line: the cream is an option for patients aged 12 years and older with mild-to-moderate disease "
           "(IGA 2 to 3) covering no more than 20% of body surface area whose disease is not controlled with, or "
           "who cannot use, other topical treatments.")
    assert sorted(fit.thresholds(fit.population(rec))) == [("IGA", "<=", 3.0), ("IGA", ">=", 2.0),
                                                           ("body surface area", "<=", 20.0)]
    severe = "A 14-year-old boy with eczema over about 38% of body surface area, IGA 4, EASI 31."
    assert fit.contradictions(rec, severe) == ["IGA 4 is not <= 3", "body surface area 38 is not <= 20"]
    assert fit.contradictions(rec, "A 15-year-old girl with eczema on 12% of body surface area, IGA 3.") == []
    assert fit.direction("no more than") == "<=" and fit.direction("not less than") == ">="
    # one threshold of two alternatives in its clause decides nothing
    assert fit.thresholds("In AF with a score of 2 or more (men) or 3 or more (women)") == []


def test_a_weight_is_not_an_age_and_a_population_that_persists_after_a_treatment_has_had_it():
    """heldout8 (read): "children under 20 kg" is not "under 20 years"; "status epilepticus that persists
    after two adequate benzodiazepine doses" is for a patient who has had two, not for one given nothing."""
    assert fit.ages("adults under 20 kg body weight") == (18, 200)
    assert fit.ages("patients under 20 years") == (0.0, 19.99)
    who = "In adults with status epilepticus that persists after two adequate benzodiazepine doses"
    assert fit.treatments(who, "Seizing for 6 minutes; nothing given yet. Medications: apixaban 5 mg.")
    assert fit.treatments(who, "Paramedics gave buccal midazolam 10 mg, then lorazepam 4 mg IV; still seizing.") is None


def test_a_letter_states_the_age_after_the_name():
    """heldout8 (read): "Mr Farhan Qureshi, 41, taxi driver ... two children aged 6 and 9" is 41, not 6."""
    assert fit.age("Dear colleague, please see Mr Farhan Qureshi, 41, taxi driver. He lives with his two "
                   "children aged 6 and 9.") == 41
    assert fit.age("Letter from Dr Okafor, 2 weeks after discharge. A 67-year-old man with COPD.") == 67
    assert fit.age("Asthma clinic. Tyler Bramwell, 14, asthma since age 8.") == 14  # an onset age is not his age
    assert fit.age("Out-of-hours GP, 21:30. A boy of 2 years 10 months with croup.") is None


def test_a_condition_named_before_the_people_is_part_of_the_population():
    """heldout9 (read): "Start COPD patients in GOLD group B or E on ..." is for COPD patients; without the
    word before "patients" it named no condition, so the guideline was "unknown" and an older trial won."""
    who = fit.population("Start COPD patients in GOLD group B or E on a LABA+LAMA inhaler rather than LABA+ICS.")
    assert who.startswith("COPD patients") and "copd" in concepts.needs(who)
    assert fit.population("Offer naltrexone to adults with alcohol use disorder who have stopped "
                          "drinking.") == "adults with alcohol use disorder who have stopped drinking"
