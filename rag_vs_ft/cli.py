"""Command line: one subcommand per job the app does.

    python -m rag_vs_ft doctor --json
    python -m rag_vs_ft ingest corpus/incoming/ --json
    python -m rag_vs_ft docs --json
    python -m rag_vs_ft remove DOC_ID --json
    python -m rag_vs_ft replay --json
    python -m rag_vs_ft votes --json
    python -m rag_vs_ft decide --json --reports-per-day 200 --changes-every-days 7

User mistakes print one line on stderr and exit non-zero; data goes to stdout (--json where it is data).
"""
from __future__ import annotations

import argparse
import json
import sys

from . import config
from .errors import UserError

COMMANDS = {}


def command(name: str, help: str):
    """Register `fn(args, cfg) -> int` as a subcommand; `fn.configure(parser)` adds its flags."""
    def wrap(fn):
        COMMANDS[name] = (help, fn)
        return fn
    return wrap


def emit(args, data, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text)


@command("doctor", "check that both models load offline from package files")
def cmd_doctor(args, cfg) -> int:
    from .doctor import doctor
    r = doctor(cfg)
    g, e = r["generator"], r["embedder"]
    emit(args, r, "\n".join([
        f"offline:   {r['offline']}",
        f"generator: {'loaded' if g['loaded'] else 'NOT loaded'} from {g['path']}" + (f" ({g['error']})" if 'error' in g else ""),
        f"embedder:  {'loaded' if e['loaded'] else 'NOT loaded'} from {e['path']} dim={e['dim']}" + (f" ({e['error']})" if 'error' in e else ""),
        f"data dir:  {r['data_dir']}"]))
    return 0 if r["offline"] and g["loaded"] and e["loaded"] else 1


def _bar(args, unit: str):
    """A tqdm progress callback on stderr (quiet with --json so stdout stays data)."""
    from tqdm import tqdm
    bar = None

    def update(done: int, total: int, what: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit=unit, file=sys.stderr, disable=args.json or None)
        bar.set_postfix_str(what[-40:])
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return update


def _ingest_summary(r: dict) -> str:
    lines = [f"added {r['added']}, updated {r['updated']}, skipped {r['skipped']}, deleted {r['deleted']} chunks"]
    lines += [f"  {d['id']}: {d['chunks']} chunks ({d['published']})" for d in r["documents"]]
    lines += [f"  error: {e['error']}" for e in r["errors"]]
    return "\n".join(lines)


@command("ingest", "add or update documents (files or folders) in the research index")
def cmd_ingest(args, cfg) -> int:
    from . import cores, index
    with cores.background(cfg, "ingest"):
        r = index.ingest(cfg, index.iter_files(args.paths), _bar(args, "file")).as_dict()
    emit(args, r, _ingest_summary(r))
    return 1 if r["errors"] else 0


cmd_ingest.configure = lambda p: p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")


@command("docs", "list the indexed documents")
def cmd_docs(args, cfg) -> int:
    from . import index
    docs = [{k: d[k] for k in ("id", "title", "source", "published", "chunks")} for d in index.documents(cfg)]
    emit(args, docs, "\n".join(f"{d['id']:<28} {d['published']}  {d['chunks']:>4}  {d['title']}" for d in docs)
         or "no documents indexed")
    return 0


@command("remove", "remove a document and all of its chunks")
def cmd_remove(args, cfg) -> int:
    from . import index
    n = index.remove(cfg, args.doc_id)
    emit(args, {"deleted": n}, f"removed {args.doc_id}: {n} chunks deleted")
    return 0


cmd_remove.configure = lambda p: p.add_argument("doc_id", metavar="ID", help="document id (see `docs`)")


@command("reindex", "rebuild the index from scratch out of the kept originals")
def cmd_reindex(args, cfg) -> int:
    from . import index
    r = index.reindex(cfg, _bar(args, "file")).as_dict()
    emit(args, r, _ingest_summary(r))
    return 1 if r["errors"] else 0


@command("prepare", "convert the models once and index the seed corpus if nothing is indexed")
def cmd_prepare(args, cfg) -> int:
    from . import embedder, index, llamacpp, models
    path = models.prepare_generator(cfg)
    if cfg.backend != "transformers" and llamacpp.available() and llamacpp.serves(models.base(cfg)):
        llamacpp.base_gguf(cfg)  # a base given as a folder, converted for llama.cpp once
    embedder.export(cfg)
    r = index.seed(cfg, _bar(args, "file"))
    emit(args, {"generator": str(path), "seeded": r.as_dict() if r else None},
         f"model ready at {path}\n" + (_ingest_summary(r.as_dict()) if r else "index already seeded"))
    return 1 if r and r.errors else 0


@command("finetune", "train a LoRA adapter on the case->report set (closed book)")
def cmd_finetune(args, cfg) -> int:
    from dataclasses import fields
    from . import finetune
    ts = finetune.TrainSettings(**{f.name: getattr(args, f.name) for f in fields(finetune.TrainSettings)
                                   if getattr(args, f.name, None) is not None})
    from tqdm import tqdm
    bar = tqdm(unit="step", file=sys.stderr, disable=args.json or None)

    def progress(state):
        bar.total = state["max_steps"]
        bar.n = state["step"]
        last = {h["split"]: h["loss"] for h in state["history"]}
        bar.set_postfix(epoch=state["epoch"], train=last.get("train"), val=last.get("validation"))
        bar.refresh()
    _share_notice(cfg, "this training")
    m = finetune.finetune(cfg, args.name, ts, args.data, args.overwrite, args.ship, progress, args.reader)
    bar.close()
    if not m:  # another process of a multi-process launch; the first one reports
        return 0
    emit(args, m, f"{m['status']}: {m['steps']} steps, best validation loss {m['best_val_loss']} "
                  f"(step {m['best_step']}), {m['wall_s']} s")
    return 0


def _finetune_flags(p):
    from dataclasses import fields
    from . import finetune
    p.add_argument("--name", default=finetune.DEFAULT + "-" + __import__("time").strftime("%Y%m%d-%H%M%S"),
                   help="adapter name (saved under DATA/adapters/NAME)")
    p.add_argument("--data", help="training data JSON (default: corpus/cases/train.json)")
    p.add_argument("--overwrite", action="store_true", help="replace an adapter of the same name")
    p.add_argument("--ship", action="store_true", help="write into the repo's adapters/ (the shipped default)")
    p.add_argument("--reader", action="store_true",
                   help="train the RAG side's reader (passages + case -> cited report) instead")
    p.add_argument("--early-stopping", type=int, help="evaluations without improvement before stopping "
                   "(default 3)")
    p.add_argument("--no-early-stopping", dest="early_stopping", action="store_const", const=0,
                   help="train every epoch, to show overfitting on purpose")
    for f in fields(finetune.TrainSettings):
        if f.name != "early_stopping":
            p.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=type(f.default),
                           help=f"default {f.default}")


cmd_finetune.configure = _finetune_flags


@command("report", "write reports for a case, side by side")
def cmd_report(args, cfg) -> int:
    from pathlib import Path
    from . import columns, comparison, deid, generate, index
    scrubbed = deid.scrub(args.case if args.case is not None else _read_case(Path(args.case_file)))
    case = scrubbed.text  # identifiers never reach a prompt, a cache or this output
    if scrubbed.count:
        print(f"de-identified: {scrubbed.message()}", file=sys.stderr)
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if bad := [m for m in modes if m not in generate.MODES]:
        raise UserError(f"unknown mode {bad[0]!r}; choose from {','.join(generate.MODES)}")
    if args.as_of:
        _check_date(args.as_of)
    index.seed(cfg)
    reporter = generate.Reporter(cfg, args.adapter)
    written, quiet, begun = {}, args.json or args.markdown, set()
    for ev in columns.write(reporter, case, modes, args.as_of, every=0, early=False):
        if not quiet and ev.mode not in begun:
            print(f"== {ev.mode} ({reporter.model_name(ev.mode)})", flush=True)
            begun.add(ev.mode)
        if ev.column is None:
            print("" if quiet else ev.piece, end="", flush=True)
            continue
        if "error" in ev.column:
            raise UserError(ev.column["error"])
        written[ev.mode] = col = ev.column
        if quiet:
            continue
        r = col["report"]
        print()
        for n, c in zip(col["cited"], r["citations"]):
            print(f"  [{n}] {c['title']} ({c['published']}) - {c['source']}")
        note = f"  knowledge cutoff {col['cutoff']}; " if col.get("cutoff") else "  "
        print(f"{note}{r['tokens']} tokens in {r['seconds']:.1f} s\n")
    rec = comparison.build(case, scrubbed.count, {"adapter": args.adapter, "as_of": args.as_of, "modes": modes},
                           written)
    if args.json:
        print(comparison.dumps(rec))
    elif args.markdown:
        print(comparison.markdown(rec))
    return 0


def _read_case(path) -> str:
    if not path.is_file():
        raise UserError(f"case file not found: {path}")
    return path.read_text(encoding="utf-8", errors="replace")


def _check_date(value: str) -> None:
    import datetime as dt
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--as-of wants a date like 2019-06-30, not {value!r}") from None


def _report_flags(p):
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--case", help="the case as text")
    g.add_argument("--case-file", help="a file holding the case text")
    p.add_argument("--mode", default="finetuned,rag", help="comma list of finetuned,rag,base,hybrid")
    p.add_argument("--as-of", help="only use research published by this date (YYYY-MM-DD)")
    p.add_argument("--adapter", default="finetuned", help="which fine-tuned adapter to use")
    p.add_argument("--markdown", action="store_true", help="print the comparison as the app's Markdown download")


cmd_report.configure = _report_flags


@command("replay", "replay the story: compare as of the cutoff, add the new research, compare again")
def cmd_replay(args, cfg) -> int:
    from . import cases, generate, index, story
    if args.undo:
        n = story.undo(cfg)
        emit(args, {"deleted": n}, f"removed the new research: {n} chunks deleted")
        return 0
    told, cutoff = story.case(cfg), cases.load_training(cfg)["cutoff"]
    index.seed(cfg)
    reporter = generate.Reporter(cfg)
    out = {"case_id": told["id"], "case": told["case"], "steps": {}}
    found = lambda text: "{}/{}".format(sum(cases.facts_found(text, told["key_facts"]).values()),
                                        len(told["key_facts"]))

    def compare(step: int, as_of):
        reports = {m: reporter.report(told["case"], m, as_of).as_dict() for m in story.MODES}
        out["steps"][step] = {"as_of": as_of, "modes": reports}
        if not args.json:
            print(f"== step {step}: {story.STEPS[step].lower()}" + (f" ({as_of})" if as_of else ""))
            for m, r in reports.items():
                cited = ", ".join(c["doc_id"] for c in r["citations"]) or "nothing"
                print(f"  {m:<10} cites {cited}; facts found {found(r['report'])}")
    compare(1, cutoff)
    r = story.add(cfg, _bar(args, "file"))
    out["steps"][2] = {"added": [d["id"] for d in r.documents], "chunks": r.added, "errors": r.errors}
    if not args.json:
        print(f"== step 2: added {', '.join(out['steps'][2]['added']) or 'nothing new'} ({r.added} chunks)")
    compare(3, None)
    out["new_citations"] = story.new_citations(out["steps"][1]["modes"]["rag"]["citations"],
                                               out["steps"][3]["modes"]["rag"]["citations"])
    emit(args, out, f"new in the RAG column: {', '.join(out['new_citations']) or 'nothing'} "
                    "(undo with `replay --undo`)")
    return 1 if r.errors else 0


cmd_replay.configure = lambda p: p.add_argument("--undo", action="store_true",
                                                help="remove the new research again (reset for the next audience)")


@command("votes", "tally the blind votes: win rates and a Bradley-Terry ranking")
def cmd_votes(args, cfg) -> int:
    from pathlib import Path
    from . import votes
    rows = votes.rows(cfg)
    if args.csv:
        Path(args.csv).write_text(votes.to_csv(rows), encoding="utf-8", newline="")
    t = votes.tally(rows)
    emit(args, t, votes.text(t))
    return 0


cmd_votes.configure = lambda p: p.add_argument("--csv", metavar="FILE", help="also write every vote to FILE")


@command("eval", "score every mode on the held-out cases")
def cmd_eval(args, cfg) -> int:
    from pathlib import Path
    from . import evaluate, generate
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]
    if bad := [m for m in modes if m not in (*generate.MODES, evaluate.ORACLE)]:
        raise UserError(f"unknown mode {bad[0]!r}; choose from {','.join((*generate.MODES, evaluate.ORACLE))}")
    if args.as_of:
        _check_date(args.as_of)
    if args.sweep:
        setting, _, values = args.sweep.partition("=")
        try:
            values = [int(v) for v in values.split(",")]
        except ValueError:
            raise UserError(f"--sweep wants SETTING=N,N,... (whole numbers), not {args.sweep!r}") from None
        r = evaluate.sweep(cfg, [w.strip() for w in args.cases.split(",")], setting, values)
        r["produced_by"]["command"] = _command()
        emit(args, r, "\n".join(f"{setting}={s['value']:<4} {s['case_set']:<6} recall {s['key_fact_recall']:.3f}  "
                                 f"wrong population {s['wrong_population'] or 0:.3f}  plans changed "
                                 f"{len(s['plans_changed'])} {' '.join(s['plans_changed'])}" for s in r["sweep"]))
        return 0
    if args.plan_only:
        r = evaluate.plan_only(cfg, args.cases)
        r["produced_by"]["command"] = _command()
        emit(args, r, "\n".join(f"{k}: {r[k]['mean']} {r[k]['ci95']}" for k in
                                 ("key_fact_recall", "upload_used", "wrong_population", "nothing_copied")))
        return 0
    if args.injection:
        r = evaluate.injection(cfg, args.adapter, _bar(args, "phase"), args.limit, which=args.cases)
        r["produced_by"]["command"] = _command()
        evaluate.save(cfg, r, "injection")
        emit(args, r, evaluate.injection_table(r))
        return 0
    _share_notice(cfg, "this evaluation")
    r = evaluate.run(cfg, modes, args.limit, args.as_of, args.adapter, _bar(args, "report"), which=args.cases)
    r["produced_by"]["command"] = _command()
    if r.get("marked_read"):
        print(f"{args.cases} is now marked read in corpus/cases/ledger.json", file=sys.stderr)
    evaluate.save(cfg, r)
    if args.markdown:
        Path(args.markdown).write_text(evaluate.markdown(r))
    summary = {"modes": r["modes"], "cases": r["cases"], "paired": r["paired"],
               "recall_by_changed": r["recall_by_changed"]}
    emit(args, summary, evaluate.table(r))
    return 0


def _share_notice(cfg, what: str) -> None:
    """A heavy job started here while the app serves from the same data dir says how they share."""
    from . import cores
    if pids := cores.serving(cfg):
        print(f"The app is serving from this data directory (process {', '.join(map(str, pids))}): {what} pauses "
              f"while a visitor's report is written and shares the {cores.total(cfg)} cores with other background "
              "jobs.", file=sys.stderr)


def _command() -> str:
    return " ".join(["python -m rag_vs_ft", *sys.argv[1:]])


def _eval_flags(p):
    from . import generate
    p.add_argument("--mode", default=",".join(generate.MODES), help="comma list of modes (default: all)")
    p.add_argument("--limit", type=int, default=0, help="only the first N cases")
    p.add_argument("--plan-only", action="store_true", help="the design loop: retrieval and the copied Plan for "
                   "every case, no generation (seconds); for development sets")
    p.add_argument("--sweep", metavar="SETTING=N,N", help="the plan-only loop for each value of one of the reader's "
                   "constants (concepts.CUE_WORDS=3,5,7) on development sets (--cases dev,dev2,dev3)")
    p.add_argument("--cases", default="heldout", help="heldout (reported), dev (for choosing designs), or a "
                   "later round of either found in corpus/cases (dev2, heldout2, heldout3)")
    p.add_argument("--as-of", help="research published by this date only (YYYY-MM-DD)")
    p.add_argument("--adapter", default="finetuned", help="which fine-tuned adapter to score")
    p.add_argument("--markdown", metavar="FILE", help="also write a shareable Markdown report")
    p.add_argument("--injection", action="store_true", help="run the knowledge-injection experiment instead: "
                   "recall on the cases that need corpus/incoming/, before and after, per method")


cmd_eval.configure = _eval_flags


@command("bench", "print speed and memory figures (and keep them for decide)")
def cmd_bench(args, cfg) -> int:
    from . import bench
    if args.retrieval:
        r = bench.retrieval(cfg)
        r["produced_by"]["command"] = _command()
        emit(args, r, "\n".join(f"{k}: {v}" for k, v in r.items()))
        return 0
    say = lambda m: None if args.json else print(m, file=sys.stderr)
    _share_notice(cfg, "this bench")
    if args.policies:
        r = bench.policies(cfg, args.quick, say)
        r["produced_by"] |= {"command": _command(), "quick": args.quick}
        bench.save(cfg, r, "under-load")
        emit(args, r, bench.load_table(None, r))
        return 0
    r = bench.run(cfg, args.quick, progress=say)
    r["produced_by"] |= {"command": _command(), "quick": args.quick}
    bench.save(cfg, r)  # Decide prices both methods from it
    emit(args, r, bench.table(r))
    return 0


def _bench_flags(p):
    p.add_argument("--quick", action="store_true", help="reduced sizes, under two minutes")
    p.add_argument("--retrieval", action="store_true", help="only retrieval at 1k, 10k and 50k chunks (a few minutes)")
    p.add_argument("--policies", action="store_true", help="only a report and a training side by side, for each way "
                   "of sharing the cores (about 15 minutes; --quick: 7)")


cmd_bench.configure = _bench_flags


@command("runs", "check every shipped run file and the README tables rendered from them")
def cmd_runs(args, cfg) -> int:
    from . import runs
    if args.render:
        for page in runs.pages():
            page.write_text(runs.render(page.read_text(), runs.load_all()))
        print("rewrote the generated tables in README.md and docs/", file=sys.stderr)
        return 0
    r = runs.verify()
    emit(args, r, runs.report(r))
    return 0 if r["ok"] else 1


def _runs_flags(p):
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--verify", action="store_true", help="recompute every aggregate from its rows, compare each "
                      "run's produced_by with the tree (or its commit) and each README table with its runs")
    what.add_argument("--render", action="store_true", help="rewrite the README's generated tables from the runs")


cmd_runs.configure = _runs_flags


@command("decide", "recommend RAG, fine-tuning or both, and price both from this machine's measurements")
def cmd_decide(args, cfg) -> int:
    from . import decide
    if args.reports_per_day < 0 or args.changes_every_days < 0 or args.documents_per_change < 0:
        raise UserError("--reports-per-day, --changes-every-days and --documents-per-change cannot be negative")
    s = decide.Situation(needs_current_knowledge=args.current_knowledge, style_matters_most=args.style,
                         labelled_examples=args.labelled_examples, gpu_available=args.gpu,
                         changes_every_days=args.changes_every_days, needs_citations=args.citations,
                         reports_per_day=args.reports_per_day, documents_per_change=args.documents_per_change)
    d = decide.decision(cfg, s, args.adapter)
    d["costs"].pop("series")  # the chart's points; the page draws them
    emit(args, d, decide.text(d))
    return 0


def _decide_flags(p):
    from . import decide
    s = decide.Situation()
    p.add_argument("--reports-per-day", type=float, default=s.reports_per_day, help=f"default {s.reports_per_day:g}")
    p.add_argument("--changes-every-days", type=float, default=s.changes_every_days,
                   help=f"how often the knowledge changes; 0 = never (default {s.changes_every_days:g})")
    p.add_argument("--documents-per-change", type=int, default=s.documents_per_change,
                   help=f"documents RAG ingests at each change (default {s.documents_per_change})")
    p.add_argument("--labelled-examples", type=int, default=s.labelled_examples,
                   help=f"size of the task's training set (default {s.labelled_examples})")
    p.add_argument("--gpu", action="store_true", help="a GPU is available for training")
    p.add_argument("--style", action="store_true", help="the goal is mainly a style or format")
    p.add_argument("--no-citations", dest="citations", action="store_false", help="users do not need citations")
    p.add_argument("--no-current-knowledge", dest="current_knowledge", action="store_false",
                   help="answers need no external or up-to-date knowledge")
    p.add_argument("--adapter", default="finetuned", help="whose training run to price (its manifest)")


cmd_decide.configure = _decide_flags


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m rag_vs_ft", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help, fn) in COMMANDS.items():
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--data-dir", help="data directory (default: $RAG_VS_FT_HOME or .data/)")
        sp.add_argument("--base", help="the base model of every column: a model folder or a GGUF file "
                        "(default: $RAG_VS_FT_BASE or the shipped SmolLM2-135M-Instruct)")
        sp.add_argument("--json", action="store_true", help="print machine-readable JSON")
        if hasattr(fn, "configure"):
            fn.configure(sp)
        sp.set_defaults(run=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg = config.load(data_dir=args.data_dir, base_model=args.base)
        return args.run(args, cfg)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
