"""Your own base model in both columns (RAG_VS_FT_BASE, `--base`): a tiny randomly initialised Llama
written by the test into a temp folder (the way transformers' own tests make models: a tiny config
and the shipped SmolLM2 tokenizer with its chat template, a few MB, no download) is fine-tuned by
`finetune` and reported on by `report` on transformers, and on llama.cpp once converted by the converter
llama.cpp ships; an adapter is refused on a base it was not trained on. With OPENAI_BASE_URL every
column goes to the server: a fake one here, on a free port of 127.0.0.1."""
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from rag_vs_ft import cli, config, finetune, generate, llamacpp, llm, models, prompts
from rag_vs_ft.errors import UserError

CASE = ("68-year-old man with atrial fibrillation, CHA2DS2-VASc 3, eGFR 70, no bleeding history. "
        "Takes bisoprolol 5 mg daily.")
TRAIN = ["--limit", "4", "--epochs", "1", "--batch", "2", "--eval-every", "1", "--rank", "4", "--alpha", "8",
         "--lr", "0.05", "--no-early-stopping", "--json"]  # two steps that move the adapter
# CI installs llama.cpp and its converter (`make test`), so there a missing one fails instead of skipping.
CONVERTS = pytest.mark.skipif(not (llamacpp.available() and llamacpp.CONVERTER.is_file()) and not os.environ.get("CI"),
                              reason="llama-cpp-python or llama.cpp's converter is not installed (make llamacpp)")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    """A 2-layer Llama with hidden size 64 (12 MB), random weights, seed 0, saved as a model folder."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    folder = tmp_path_factory.mktemp("own") / "TinyLlama-test"
    gguf = models.gguf_path()
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)  # SmolLM2's, chat template included
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory, models_home, seeded_template):
    """A data dir with the seed index and the `finetuned` adapter trained on the tiny base by the CLI (two
    steps), and a copy of it as the `reader` (the reader's own examples embed the whole corpus; what
    is tested here is which base an adapter belongs to)."""
    home = tmp_path_factory.mktemp("own-data") / "data"
    shutil.copytree(seeded_template, home)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_VS_FT_MODELS", str(models_home))
        assert cli.main(["finetune", "--base", str(tiny_base), "--data-dir", str(home), "--name", "finetuned",
                         *TRAIN]) == 0
    shutil.copytree(home / "adapters" / "finetuned", home / "adapters" / "reader")
    return home



def _report_on_tiny(tiny_base, trained, backend: str, capsys, monkeypatch) -> dict:
    """`report --base` on the tiny model: every column says which base, backend and adapter wrote it, and
    the RAG column copies and cites a passage on any base."""
    capsys.readouterr()
    monkeypatch.setenv("RAG_VS_FT_BACKEND", backend)
    monkeypatch.setenv("RAG_VS_FT_MAX_NEW_TOKENS", "12")
    assert cli.main(["report", "--base", str(tiny_base), "--data-dir", str(trained), "--case", CASE,
                     "--mode", "finetuned,rag,base", "--json"]) == 0
    cols = json.loads(capsys.readouterr().out)["modes"]
    assert {m: c["model"] for m, c in cols.items()} == {
        "finetuned": f"TinyLlama-test ({backend}) + LoRA 'finetuned'",
        "rag": f"TinyLlama-test ({backend}) + LoRA 'reader'", "base": f"TinyLlama-test ({backend})"}
    assert all(c["tokens"] > 0 for c in cols.values()) and cols["rag"]["citations"], cols
    return cols

def test_finetune_records_its_base_and_report_runs_both_columns_on_it(trained, tiny_base, models_home, capsys,
                                                                      monkeypatch):
    from safetensors.numpy import load_file
    base = models.base(config.load(base_model=tiny_base))
    assert base.name == "TinyLlama-test" and base.sha256 != models.file_sha256(models.gguf_path())
    m = json.loads((trained / "adapters" / "finetuned" / "manifest.json").read_text())
    assert (m["base_model_sha256"], m["base_model"], m["base_model_path"]) == \
        (base.sha256, "TinyLlama-test", str(tiny_base))
    shapes = {w.shape for k, w in load_file(trained / "adapters" / "finetuned" / "adapter_model.safetensors").items()
              if "q_proj.lora_A" in k}
    assert shapes == {(4, 64)}, "rank 4 on the tiny model's 64-wide layers, not SmolLM2's 576"
    val = [h["loss"] for h in m["history"] if h["split"] == "validation"]
    assert m["steps"] == 2 and val[-1] < val[0], "two steps that lower the validation loss"

    cols = _report_on_tiny(tiny_base, trained, "transformers", capsys, monkeypatch)

    # the fine-tuned column is the tiny base with its adapter, decoded greedily (peft called directly)
    from peft import PeftModel
    cfg = config.load(data_dir=trained, models_home=models_home, base_model=tiny_base)
    model, tok = models.load_generator(cfg)
    tuned = PeftModel.from_pretrained(model, str(trained / "adapters" / "finetuned"))
    assert cols["finetuned"]["report"] == llm.generate(tuned, tok, prompts.closed_book(CASE), 12).text


def test_an_adapter_is_refused_on_a_base_it_was_not_trained_on(trained, tiny_base, models_home, tmp_path, capsys):
    shipped_base = models.base(config.load(models_home=models_home))
    with pytest.raises(UserError, match=r"adapter 'finetuned' was trained on .*TinyLlama-test \(sha256 .{12}\), not on "
                       r"the base in use, SmolLM2-135M-Instruct .*finetune --base .*SmolLM2-135M-Instruct.Q4_1.gguf "
                       r"--name finetuned"):
        finetune.check_base("finetuned", finetune.read_manifest(trained / "adapters" / "finetuned"), shipped_base)
    home = tmp_path / "data"
    shutil.copytree(trained, home)
    shutil.rmtree(home / "adapters" / "reader")  # the shipped reader again: trained on SmolLM2
    tiny = config.load(data_dir=home, models_home=models_home, base_model=tiny_base, backend="transformers")
    with pytest.raises(UserError, match=r"adapter 'reader' was trained on SmolLM2-135M-Instruct.Q4_1.gguf "
                       r"\(sha256 b179c9523d0e\), not on the base in use, TinyLlama-test .* --reader`"):
        generate.Reporter(tiny)
    capsys.readouterr()
    assert cli.main(["report", "--base", str(tiny_base), "--data-dir", str(home), "--case", CASE]) == 2
    assert "adapter 'reader' was trained on SmolLM2" in capsys.readouterr().err


def test_a_base_folder_says_what_it_lacks(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(UserError, match="lacks \\*.safetensors weights, a tokenizer, a chat template"):
        models.base(config.load(base_model=folder))
    with pytest.raises(UserError, match="does not exist"):
        models.base(config.load(base_model=tmp_path / "nowhere"))


def test_eval_and_bench_run_files_name_the_base_and_the_backend(trained, tiny_base, models_home):
    from rag_vs_ft import bench, evaluate, runs
    cfg = config.load(data_dir=trained, models_home=models_home, base_model=tiny_base, backend="transformers",
                      max_new_tokens=8)
    want = {"backend": "transformers", "base": "TinyLlama-test", "base_sha256": models.base(cfg).sha256}
    r = evaluate.run(cfg, ["finetuned", "base"], limit=1, which="dev")
    assert {k: r["produced_by"][k] for k in want} == want and len(r["rows"]) == 2
    assert evaluate.source(r) == f"This install's run ({r['produced_by']['date']}, TinyLlama-test on transformers)."
    _, _, served = bench.generation(cfg, 4)
    assert {k: bench.stamp(served)[k] for k in want} == want
    assert generate.serving(config.load(openai_base_url="http://127.0.0.1:9/v1", openai_model="big")) == \
        {"backend": "remote", "base": "big", "server": "http://127.0.0.1:9/v1"}
    assert runs.served({"backend": "llamacpp"}) == "SmolLM2-135M-Instruct on llamacpp", \
        "a run made before the base could change was on the shipped model"


@CONVERTS
def test_llamacpp_serves_a_folder_base_converted_once_with_each_adapter(trained, tiny_base, models_home, capsys,
                                                                         monkeypatch):
    import numpy as np
    import torch
    from llama_cpp import Llama
    from peft import PeftModel
    cfg = config.load(data_dir=trained, models_home=models_home, base_model=tiny_base, backend="llamacpp")
    _report_on_tiny(tiny_base, trained, "llamacpp", capsys, monkeypatch)
    gguf = llamacpp.base_gguf(cfg)
    assert gguf.parent == models_home / "base-gguf" and gguf.name.startswith("TinyLlama-test-")
    made = gguf.stat().st_mtime_ns
    generate.Reporter(cfg)
    assert llamacpp.base_gguf(cfg).stat().st_mtime_ns == made, "converted once"

    # the converted base with the converted adapter computes what peft computes on the folder
    adapter = trained / "adapters" / "finetuned"
    model, tok = models.load_generator(cfg, dtype="float32")
    ids = llm.prompt_ids(tok, prompts.closed_book(CASE))
    with torch.inference_mode():
        plain = model(torch.tensor([ids])).logits[0].numpy()
        want = PeftModel.from_pretrained(model, str(adapter))(torch.tensor([ids])).logits[0].numpy()

    def served(lora):
        engine = Llama(model_path=str(gguf), n_ctx=512, logits_all=True, verbose=False, lora_path=lora)
        engine.eval(ids)
        return np.array(engine.scores[:len(ids)])
    got, base_only = served(str(llamacpp.lora_gguf(cfg, adapter))), served(None)
    gap = lambda a, b: float(np.abs(a - b).max())
    assert gap(base_only, plain) < 0.01 and gap(got, want) < 0.01, "llama.cpp on the conversions computes peft's"
    assert gap(want, plain) > 0.1, "and the adapter makes a difference there to compare"
    assert (got.argmax(-1) == want.argmax(-1)).mean() > 0.95


@pytest.fixture
def server():
    """An OpenAI-compatible server as vLLM runs one with `--enable-lora --lora-modules finetuned=...`: it
    lists the base and its adapter (with the adapter's `parent`) at /v1/models, streams chat completions
    as server-sent events, answers 404 for a model it does not serve, and keeps every request."""
    state = SimpleNamespace(requests=[], data=[{"id": "tiny-base"}, {"id": "finetuned", "parent": "tiny-base"}])

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": state.data}).encode()
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(body)
            if body["model"] not in [m["id"] for m in state.data]:
                self.send_error(404, f"The model `{body['model']}` does not exist.")
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for piece in [f"Plan: written by {body['model']}, ", "citing ", "[1]."]:
                self.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': piece}}]})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{httpd.server_port}/v1"
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_with_a_server_every_column_goes_to_it_the_finetuned_one_by_the_adapters_name(seeded, server, monkeypatch,
                                                                                     capsys):
    def local(*args, **kw):
        raise AssertionError("a local model was loaded beside the server")
    monkeypatch.setattr(models, "load_generator", local)
    monkeypatch.setattr(models, "prepare_generator", local)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_MODEL", "tiny-base")
    assert cli.main(["report", "--case", CASE, "--mode", "finetuned,rag,base,hybrid", "--json"]) == 0
    cols = json.loads(capsys.readouterr().out)["modes"]
    asked = [(r["model"], "Research passages" in r["messages"][-1]["content"]) for r in server.requests]
    assert asked == [("finetuned", False), ("tiny-base", True), ("tiny-base", False), ("finetuned", True)], \
        "the fine-tuned column asks for the adapter, the RAG column for the base with the passages"
    assert all(r["temperature"] == 0 and r["stream"] and r["max_tokens"] == 240 for r in server.requests)
    at = f" at {server.url}"
    assert {m: c["model"] for m, c in cols.items()} == {
        "finetuned": "tiny-base + LoRA 'finetuned'" + at, "rag": "tiny-base" + at, "base": "tiny-base" + at,
        "hybrid": "tiny-base + LoRA 'finetuned'" + at}
    assert cols["rag"]["report"] == "Plan: written by tiny-base, citing [1]." and cols["rag"]["tokens"] == 3
    assert len(cols["rag"]["citations"]) == 1 and cols["finetuned"]["citations"] == []


def test_a_server_that_does_not_serve_the_adapter_on_the_same_base_is_refused(seeded, server, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_MODEL", "tiny-base")
    report = ["report", "--case", CASE, "--mode", "finetuned", "--json"]
    server.data = [{"id": "tiny-base"}, {"id": "finetuned", "parent": "another-base"}]
    assert cli.main(report) == 2
    assert "serves adapter 'finetuned' on another-base, not on OPENAI_MODEL tiny-base" in capsys.readouterr().err
    server.data = [{"id": "tiny-base"}]
    assert cli.main(report) == 2
    assert "serves no model named 'finetuned' (it serves tiny-base): serve it by that name, e.g. `vllm serve" in \
        capsys.readouterr().err
    assert server.requests == [], "nothing is generated by a model that is not the one asked for"
    monkeypatch.delenv("OPENAI_MODEL")
    with pytest.raises(UserError, match="OPENAI_BASE_URL is set but OPENAI_MODEL is not"):
        generate.Reporter(config.load())
