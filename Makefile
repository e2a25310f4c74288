# Two entry points for a fresh machine (Python 3.11, no GPU): `make app` and `make test`.
# Both create or reuse .venv/ and install the pinned stack with one `pip install -r requirements.txt`
# (what Streamlit Community Cloud and Hugging Face Spaces run); re-running is cheap.
# No compiler is needed: escnn's Fortran-only py3nj is replaced by an empty stand-in (packaging/).
PY ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: app test test-fast setup clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt packaging/py3nj-unused/pyproject.toml
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	@touch $(STAMP)

app: $(STAMP)
	$(VENV)/bin/python -m streamlit run app.py --server.port 8501

test: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 --timeout 600

test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -n 2 -m "not slow and not browser and not deploy"

clean-venv:
	rm -rf $(VENV)
