"""Both models load offline from package files; greedy generation is deterministic."""
import json
import math
import os
import subprocess
import sys

from rag_vs_ft import llm, models


def test_offline_variables_are_set_on_import():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


def test_model_files_come_from_packages():
    assert models.gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "site-packages" in str(models.gguf_path())
    assert (models.embedder_path() / "model.safetensors").is_file()


def test_embedder_is_384d_and_normalized(embedder):
    a, b, c = embedder.embed_documents(["atrial fibrillation anticoagulation",
                                        "apixaban for stroke prevention in AF",
                                        "a recipe for lemon cake"])
    assert len(a) == 384
    assert math.isclose(sum(x * x for x in a), 1.0, rel_tol=1e-3)
    dot = lambda u, v: sum(x * y for x, y in zip(u, v))
    assert dot(a, b) > dot(a, c) + 0.2, "related medical texts must be closer than unrelated ones"


def test_generator_copy_is_dense_and_reloads(generator, models_home):
    model, tok = generator
    assert type(model).__name__ == "LlamaForCausalLM"
    assert 130e6 < model.num_parameters() < 140e6
    copy = models_home / "smollm2-135m-instruct"
    assert (copy / "model.safetensors").is_file()
    assert json.loads((copy / "source.json").read_text())["sha256"] == models.file_sha256(models.gguf_path())


def test_generate_is_transformers_own_greedy_continuation(generator):
    """llm.generate against model.generate called directly (greedy, the same repetition penalty)."""
    import torch
    model, tok = generator
    msgs = [{"role": "user", "content": "Name one medicine used for high blood pressure."}]
    got = llm.generate(model, tok, msgs, max_new_tokens=24)
    ids = torch.tensor([llm.prompt_ids(tok, msgs)])
    with torch.inference_mode():
        gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=24, do_sample=False,
                             repetition_penalty=llm.REPETITION_PENALTY, pad_token_id=tok.eos_token_id)
    assert got.text.strip() and got.text == tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
    assert 0 < got.tokens <= 24 and got.first_token_s is not None and got.seconds >= got.first_token_s


def test_streaming_yields_what_the_model_decodes_greedily(generator):
    """Against model.generate called directly (not through llm): the streamed pieces, joined, are the
    greedy continuation; with an answer prefix and a stop string, the text after the prefix up to it."""
    import torch
    model, tok = generator
    msgs = [{"role": "user", "content": "Say hello to a patient."}]

    def direct(prefix="", n=16):
        ids = torch.tensor([llm.prompt_ids(tok, msgs, prefix)])
        with torch.inference_mode():
            gen = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                 do_sample=False, repetition_penalty=llm.REPETITION_PENALTY,
                                 pad_token_id=tok.eos_token_id)
        return tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)

    out = llm.Generation()
    pieces = list(llm.stream(model, tok, msgs, 16, out))
    assert len(pieces) > 1 and out.tokens == 16
    assert "".join(pieces) == direct()
    prefix = "Subjective: the patient is well.\nObjective:"
    stopped = "".join(llm.stream(model, tok, msgs, 40, llm.Generation(), prefix=prefix, stop="\n"))
    assert "\n" not in stopped and stopped and direct(prefix, 40).startswith(stopped)


def test_doctor_json_reports_offline_and_loaded(models_home, data_dir):
    env = dict(os.environ, RAG_VS_FT_MODELS=str(models_home))
    env.pop("HF_HUB_OFFLINE"); env.pop("TRANSFORMERS_OFFLINE")  # the CLI must set them itself
    run = subprocess.run([sys.executable, "-m", "rag_vs_ft", "doctor", "--json", "--data-dir", str(data_dir)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    r = json.loads(run.stdout)
    assert r["offline"] is True
    assert r["generator"]["loaded"] and r["generator"]["path"].endswith(".gguf")
    assert r["embedder"]["loaded"] and r["embedder"]["dim"] == 384
    assert r["data_dir"] == str(data_dir.resolve())


def test_the_onnx_export_computes_our_vectors_and_serves_chromas_default_embedder(cfg, tmp_path):
    """The bench's peers run the same model: the graph exported from the packaged weights gives the
    vectors ingest stores (cosine >= 0.999), and Chroma's own ONNXMiniLM_L6_V2 reads it from the
    cache folder it checks before downloading."""
    import shutil
    import numpy as np
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2
    from rag_vs_ft import bench, embedder
    folder = embedder.export(cfg)
    texts = bench.corpus_chunks(cfg)[:24] + ["atrial fibrillation, CHA2DS2-VASc 3"]
    ours = np.array(models.load_embedder(cfg).embed_documents(texts))
    onnx = np.array(embedder.OnnxEmbeddings(folder).embed_documents(texts))
    chroma = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    chroma.DOWNLOAD_PATH = tmp_path
    shutil.copytree(folder, tmp_path / chroma.EXTRACTED_FOLDER_NAME)
    theirs = np.array(chroma(texts))
    assert (onnx * ours).sum(1).min() >= 0.999 and (theirs * ours).sum(1).min() >= 0.999
    assert not (tmp_path / chroma.ARCHIVE_FILENAME).exists(), "nothing was downloaded"


def test_a_query_embedded_by_the_onnx_graph_retrieves_what_torch_would(seeded, monkeypatch):
    """Reports embed their query with the exported graph (twice as fast for one text): the same
    passages in the same order, scores included, as with the torch embedder ingest uses."""
    from rag_vs_ft import cases, config, embedder, retrieve
    cfg = config.load()
    texts = [c["case"] for c in cases.load(cfg, "dev")[:10]]
    assert isinstance(embedder.query_embedder(cfg), embedder.OnnxEmbeddings)
    got = lambda: [[(p["doc_id"], p["score"]) for p in retrieve.passages(cfg, t)] for t in texts]
    onnx = got()
    monkeypatch.setattr(embedder, "query_embedder", lambda cfg: models.load_embedder(cfg))
    retrieve._cache.clear()  # the problem phrases' hits are kept with the index: find them again
    assert got() == onnx
