"""Every test gets its own data dir; prepared model copies are shared by the session (converting
the GGUF takes ~20 s, and a copy is read-only once made)."""
from __future__ import annotations

import pytest

from rag_vs_ft import config


@pytest.fixture(scope="session")
def models_home(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def data_dir(tmp_path, models_home, monkeypatch):
    home = tmp_path / "data"
    monkeypatch.setenv("RAG_VS_FT_HOME", str(home))
    monkeypatch.setenv("RAG_VS_FT_MODELS", str(models_home))
    for var in ("CHROMA_HOST", "CHROMA_PORT", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def cfg(data_dir):
    return config.load()


@pytest.fixture(scope="session")
def generator(models_home):
    """The real SmolLM2, loaded once for the session."""
    from rag_vs_ft import models
    return models.load_generator(config.load(data_dir=models_home / "unused", models_home=models_home))


@pytest.fixture(scope="session")
def embedder():
    from rag_vs_ft import models
    return models.load_embedder()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory, models_home):
    """The seed corpus indexed once per session (~15 s); tests copy it instead of re-embedding."""
    from rag_vs_ft import index
    home = tmp_path_factory.mktemp("seeded")
    r = index.seed(config.load(data_dir=home, models_home=models_home))
    assert r is not None and not r.errors
    return home


@pytest.fixture
def seeded(seeded_template, data_dir):
    """This test's data dir, holding a copy of the indexed seed corpus."""
    import shutil
    shutil.copytree(seeded_template, data_dir)
    return data_dir


HEAVY_ON_TRANSFORMERS = {"test_two_sessions_with_different_adapters_at_once_each_get_their_own_report",
                         "test_eval_runs_end_to_end_and_caches"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """The transformers twins of the two heaviest report tests (2+ minutes together) run with the slow
    tests (`make test-all`); the default run still covers that backend with the others and its
    llama.cpp twins, and stays near ten minutes."""
    for item in items:
        if getattr(item, "originalname", None) in HEAVY_ON_TRANSFORMERS and "[transformers]" in item.name:
            item.add_marker(pytest.mark.slow)
