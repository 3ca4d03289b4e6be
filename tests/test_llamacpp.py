"""The optional llama.cpp backend serves the same model: a peft adapter converted to a GGUF LoRA
predicts what peft predicts, token by token."""
import pytest

from rag_vs_ft import cases, finetune, generate, llamacpp, models, prompts


def test_forcing_llamacpp_without_the_extra_says_how_to_install_it(cfg, monkeypatch):
    from dataclasses import replace
    from rag_vs_ft.errors import UserError
    monkeypatch.setattr(llamacpp, "available", lambda: False)
    with pytest.raises(UserError, match="make llamacpp"):
        generate.Reporter(replace(cfg, backend="llamacpp"))
    with pytest.raises(UserError, match="auto, llamacpp or transformers"):
        generate.Reporter(replace(cfg, backend="gpu"))


def test_converted_adapter_agrees_with_peft_token_by_token(cfg, generator):
    pytest.importorskip("llama_cpp", reason="the optional llama-cpp-python is not installed (make llamacpp)")
    import numpy as np
    import torch
    from llama_cpp import Llama
    from peft import PeftModel
    model, tok = generator
    adapter = finetune.adapter_dir(cfg, finetune.DEFAULT)
    example = cases.load_training(cfg)["cases"][0]
    messages = prompts.closed_book(example["case"]) + [{"role": "assistant", "content": example["report"]}]
    ids = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    tuned = PeftModel.from_pretrained(model, str(adapter))
    try:
        with torch.inference_mode():
            want = tuned(torch.tensor([ids])).logits[0].float().argmax(-1).numpy()
    finally:
        tuned.unload()  # leave the session's shared model as it was

    def predicted(lora):
        llm = Llama(model_path=str(models.gguf_path()), n_ctx=1024, logits_all=True, verbose=False,
                    lora_path=lora)
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)]).argmax(-1)
    with_lora = (predicted(str(llamacpp.lora_gguf(cfg, adapter))) == want).mean()
    without = (predicted(None) == want).mean()
    assert with_lora > 0.95 and without < 0.8, (with_lora, without)
    assert llamacpp.lora_gguf(cfg, adapter).stat().st_size < 2 * (adapter / "adapter_model.safetensors").stat().st_size
