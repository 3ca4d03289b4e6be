"""all-MiniLM-L6-v2 exported once from the packaged weights to an ONNX graph (under the models dir),
and a runner for it. It embeds each report's query (`query_embedder`: one short text, where ONNX
Runtime is twice as fast as torch), and it is the bench's peer for ingest's embedder
(sentence-transformers on torch, which keeps embedding documents: in batches both run alike).

Chroma's default embedder (`ONNXMiniLM_L6_V2`) runs such a graph but downloads its copy; it looks in
its cache folder first, so `bench` fills a temporary one from this export and runs Chroma's own code
beside ours on the same texts. `OnnxEmbeddings` runs the same graph the way sentence-transformers
batches (similar lengths together, padded only to the longest), which shows where the difference
comes from: Chroma pads every text to 256 tokens; the corpus's chunks are at most 128.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from langchain_core.embeddings import Embeddings

from . import models
from .config import Config

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH = 32
# The folder layout Chroma's ONNXMiniLM_L6_V2 reads, so the same files can serve it as a peer.
FILES = ("config.json", "special_tokens_map.json", "tokenizer_config.json", "tokenizer.json", "vocab.txt")


def onnx_dir(cfg: Config) -> Path:
    return cfg.models_dir / "all-minilm-l6-v2-onnx"


def ready(cfg: Config) -> bool:
    return (onnx_dir(cfg) / "model.onnx").is_file() and (onnx_dir(cfg) / "source.json").is_file()


def export(cfg: Config) -> Path:
    """Export the packaged weights to `model.onnx` once (a few seconds); return the folder."""
    out = onnx_dir(cfg)
    if ready(cfg):
        return out
    import torch
    from transformers import AutoModel
    src = models.embedder_path()
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    class Encoder(torch.nn.Module):  # the three inputs by name, the last hidden state out
        def __init__(self):
            super().__init__()
            self.bert = AutoModel.from_pretrained(src)

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state
    model = Encoder().eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "tokens"} for n in names} | {"last_hidden_state": {0: "batch", 1: "tokens"}}
    with torch.no_grad():
        torch.onnx.export(model, (ids, ids, torch.zeros_like(ids)), str(tmp / "model.onnx"), dynamo=False,
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17)
    for name in FILES:
        shutil.copy(src / name, tmp / name)
    (tmp / "source.json").write_text(json.dumps({"from": str(src), "sha256": models.file_sha256(src / "model.safetensors")}))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # another process exporting at the same time replaces it with the same files
    return out


class OnnxEmbeddings(Embeddings):
    """LangChain embeddings over the exported graph; normalized 384-d vectors."""

    def __init__(self, folder: Path, threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # to the longest text of each batch

    def _embed(self, texts: list[str]):
        import numpy as np
        out = np.zeros((len(texts), models.EMBED_DIM), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: little padding
        for start in range(0, len(order), BATCH):
            batch = order[start:start + BATCH]
            enc = self.tokenizer.encode_batch([texts[i] for i in batch])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            summed = (hidden * mask[..., None]).sum(1) / np.clip(mask.sum(1, keepdims=True), 1e-9, None)
            out[batch] = summed / np.clip(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12, None)
        return out

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._embed(list(texts)).tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        return self._embed([text])[0].tolist()


_queries: dict[str, Embeddings] = {}


def query_embedder(cfg: Config) -> Embeddings:
    """What embeds a report's query. One text at a time, ONNX Runtime runs this model in 7 ms where
    torch takes 15 (cosine to torch's vectors 0.9999999, and identical retrieval on every case set);
    in batches of chunks both run alike, so documents keep the sentence-transformers embedder. Falls back
    to it when the graph cannot be exported."""
    key = str(onnx_dir(cfg))
    if key not in _queries:
        try:
            _queries[key] = OnnxEmbeddings(export(cfg), cfg.threads)
        except Exception as e:  # noqa: BLE001  (an export or runtime problem must not stop retrieval)
            import logging
            logging.getLogger(__name__).warning("query embedding falls back to torch: %s", e)
            _queries[key] = models.load_embedder(cfg)
    return _queries[key]
