# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(wildcard plugins/ldm-plugin-*))
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-slow lint registry clean

install: $(STAMP)

# torch/torchvision are pinned in constraints.txt (the one build this project tests with).
$(STAMP): pyproject.toml constraints.txt $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'setuptools>=64' wheel
	$(BIN)/pip install -q -c constraints.txt torch torchvision
	$(BIN)/pip install -q -c constraints.txt --no-build-isolation \
		-e '.[test]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

demo: install
	$(BIN)/python -m ldmcore.demo

test: install
	$(BIN)/pytest -q -n 2

test-slow: install
	$(BIN)/pytest -q -n 2 -m slow

lint: install
	$(BIN)/ruff check ldmcore plugins tests benchmarks

registry: install
	$(BIN)/ldm registry build

clean:
	rm -rf $(VENV) outputs runs .pytest_cache
