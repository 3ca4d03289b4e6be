# Two commands: `make run` (set up, prepare models and the seed index, serve on 127.0.0.1:8501)
# and `make test` (set up, run the tests). A second run reinstalls nothing.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
REQS   := requirements.txt requirements-models.txt requirements-dev.txt

.PHONY: run test test-all prepare browser bench llamacpp

$(STAMP): $(REQS)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-models.txt
	touch $@

prepare: $(STAMP)
	$(PY) -m rag_vs_ft prepare

run: prepare llamacpp
	$(VENV)/bin/streamlit run app.py --server.address 127.0.0.1 --server.port 8501 \
	  --server.maxUploadSize $$($(PY) -c "from rag_vs_ft import config; print(config.load().upload_limit_mb)")

# Debian's chromium for the real-browser test; never a browser download of its own.
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Tests run the path users run: llama.cpp too (pip keeps the wheel it builds, so only a new machine
# compiles it, about 5 minutes).
test: $(STAMP) browser llamacpp
	$(PY) -m pytest

# llama.cpp serves reports several times faster; `make run` tries it once (a ~5 min compile). Without
# cmake or a C++ compiler it is skipped and transformers serves instead. The converter llama.cpp ships
# (convert_hf_to_gguf.py, for a base that comes as a model folder) is unpacked from the same pinned
# llama-cpp-python source package into $(CONVERTER) (rag_vs_ft/llamacpp.py: CONVERTER).
CONVERTER := $(VENV)/share/llama.cpp
llamacpp: $(STAMP)
	@$(PY) -c "import llama_cpp, sentencepiece" 2>/dev/null || { echo "compiling llama.cpp once (about 5 minutes)..."; \
	  $(PY) -m pip install -q --disable-pip-version-check -r requirements-llamacpp.txt || \
	  echo "llama.cpp not installed (needs cmake and a C++ compiler): transformers serves the reports"; }
	@test -f $(CONVERTER)/convert_hf_to_gguf.py || { tmp=$$(mktemp -d); mkdir -p $$tmp/out && \
	  $(PY) -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: -d $$tmp \
	    $$(grep -m1 '^llama-cpp-python==' requirements-llamacpp.txt) && \
	  tar -xzf $$tmp/llama_cpp_python-*.tar.gz -C $$tmp/out --strip-components=3 --wildcards \
	    '*/vendor/llama.cpp/convert_hf_to_gguf.py' '*/vendor/llama.cpp/conversion/*' \
	    '*/vendor/llama.cpp/gguf-py/*' '*/vendor/llama.cpp/LICENSE' && \
	  rm -rf $(CONVERTER) && mkdir -p $(dir $(CONVERTER)) && mv $$tmp/out $(CONVERTER); ok=$$?; rm -rf $$tmp; \
	  test $$ok = 0 || echo "llama.cpp's converter not unpacked: a base given as a model folder is served by transformers"; }

test-all: $(STAMP) browser llamacpp
	$(PY) -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(PY) -m rag_vs_ft bench
