"""The training contract: LoRA changes only the adapter, logs validation loss, records a manifest;
and the shipped adapters are what the documented command makes from the shipped data."""
import json

import pytest

from rag_vs_ft import cases, config, finetune, models
from rag_vs_ft.errors import UserError


def test_few_steps_change_the_adapter_not_the_base(cfg, models_home):
    import torch
    from peft import PeftModel
    from safetensors.torch import load_file

    base_file = models_home / "smollm2-135m-instruct" / "model.safetensors"
    models.prepare_generator(cfg)
    before = models.file_sha256(base_file)
    ts = finetune.TrainSettings(limit=8, epochs=1, batch=4, eval_every=1, rank=4, alpha=8, max_len=256)
    seen = []
    m = finetune.finetune(cfg, "tiny", ts, progress=lambda s: seen.append(s["step"]))

    assert m["steps"] == 2 and m["train_examples"] == 8 and m["val_examples"] == 2
    assert [h["step"] for h in m["history"] if h["split"] == "validation"] == [0, 1, 2]
    assert all(h["loss"] > 0 for h in m["history"])
    assert seen and max(seen) == 2, "progress is reported while training"
    assert m["data_sha256"] == cases.data_hash(cases.train_path(cfg)) and m["data_cutoff"] == "2018-12-31"
    assert models.file_sha256(base_file) == before, "the base model copy is untouched"

    out = cfg.adapters_dir / "tiny"
    weights = load_file(out / "adapter_model.safetensors")
    assert weights and all("lora_" in k for k in weights), "the adapter holds LoRA weights only"
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert any(v.abs().sum() > 0 for v in lora_b), "LoRA B starts at zero; training must move it"

    base, _ = models.load_generator(cfg, dtype="float32")
    reference = {k: v.clone() for k, v in base.state_dict().items()}
    tuned = PeftModel.from_pretrained(base, str(out))
    for name, param in tuned.base_model.model.state_dict().items():
        key = name.replace(".base_layer", "")
        if key in reference:
            assert torch.equal(param, reference[key]), f"base weight {key} changed"


def test_existing_adapter_is_never_overwritten_silently(cfg):
    from rag_vs_ft.errors import UserError
    (cfg.adapters_dir / "taken").mkdir(parents=True)
    (cfg.adapters_dir / "taken" / "manifest.json").write_text("{}")
    with pytest.raises(UserError, match="exists"):
        finetune.finetune(cfg, "taken", finetune.TrainSettings(limit=4))


@pytest.mark.parametrize("name", [finetune.DEFAULT, finetune.READER])
def test_shipped_adapters_match_the_shipped_data(name):
    cfg = config.load()
    path = finetune.SHIPPED / name
    m = json.loads((path / "manifest.json").read_text())
    assert m["data_sha256"] == cases.data_hash(cases.train_path(cfg)), \
        "retrain with the README's command after changing corpus/cases/train.json"
    assert m["base_model_sha256"] == models.file_sha256(models.gguf_path())
    assert m["data_cutoff"] == cases.load_training(cfg)["cutoff"]
    assert (path / "adapter_model.safetensors").stat().st_size < 20_000_000
    assert any(h["split"] == "validation" for h in m["history"])


def test_training_from_the_app_runs_in_the_background(cfg, models_home):
    """What the Fine-tune page does: start a process, poll its progress, find the manifest."""
    import time
    models.prepare_generator(cfg)
    ts = finetune.TrainSettings(limit=4, epochs=1, batch=2, eval_every=1, rank=4, alpha=8, max_len=192)
    finetune.start(cfg, "bg", ts)
    deadline = time.time() + 400
    while not (state := finetune.progress_of(cfg, "bg")).get("done"):
        assert state.get("status") != "failed", state.get("log")
        assert time.time() < deadline, "background training did not finish"
        time.sleep(1)
    assert state["status"] == "finished" and state["step"] == 2
    m = json.loads((cfg.adapters_dir / "bg" / "manifest.json").read_text())
    assert m["settings"]["rank"] == 4 and m["steps"] == 2
    assert m["wall_s"] > 0 and m["peak_rss_mb"] > 100, "Decide prices a training run from these"
    from rag_vs_ft.errors import UserError
    with pytest.raises(UserError, match="exists"):
        finetune.start(cfg, "bg", ts)


def test_cancel_stops_training(cfg):
    def cancel_at_first_step(state):
        if state["step"] == 1:
            finetune.cancel(cfg, "stop")
    ts = finetune.TrainSettings(limit=8, epochs=2, batch=2, eval_every=100, rank=4, alpha=8, max_len=192)
    m = finetune.finetune(cfg, "stop", ts, progress=cancel_at_first_step)
    assert m["status"] == "cancelled" and m["steps"] == 2  # seen at the end of the step after


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "", "has space", "x" * 65, "-dash-first"])
def test_adapter_names_are_folder_names(cfg, name):
    from rag_vs_ft.errors import UserError
    for call in (lambda: finetune.start(cfg, name, finetune.TrainSettings(limit=4)),
                 lambda: finetune.finetune(cfg, name, finetune.TrainSettings(limit=4)),
                 lambda: finetune.adapter_dir(cfg, name)):
        with pytest.raises(UserError, match="adapter name"):
            call()
    assert not (cfg.data_dir / "escape").exists() and not cfg.adapters_dir.exists()


def test_one_training_at_a_time(cfg):
    """A second training, from the app or the command line, is refused with a clear message while
    one runs (each takes ~7 GB and every core); the slot is free again afterwards."""
    from rag_vs_ft.errors import UserError
    ts = finetune.TrainSettings(limit=4)
    with finetune.training_slot(cfg, "first"):
        with pytest.raises(UserError, match="training 'first' is still running"):
            finetune.start(cfg, "second", ts)
        with pytest.raises(UserError, match="one training at a time"):
            finetune.finetune(cfg, "third", ts)
    assert not (cfg.adapters_dir / "second").exists()
    with finetune.training_slot(cfg, "later"):
        pass


def test_a_max_len_that_cuts_every_report_is_refused(cfg):
    """Labels are the report's tokens only: a max_len shorter than every prompt leaves none, and a training
    on nothing would still "finish" with a loss of 0.0."""
    ts = finetune.TrainSettings(limit=4, epochs=1, batch=4, eval_every=1, rank=4, alpha=8, max_len=32)
    with pytest.raises(UserError, match="raise --max-len"):
        finetune.finetune(cfg, "cut", ts)
    assert not (cfg.adapters_dir / "cut" / "adapter_model.safetensors").exists()
