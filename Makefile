# The two commands of the README:
#   make map    sets up .venv (once) and builds the default map into maps/xinjiang/
#   make test   sets up .venv (once), checks Chromium and the CJK fonts, runs the whole test suite
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha256sum pyproject.toml | cut -c1-12)

.PHONY: map test venv browser
map: $(STAMP)
	$(VENV)/bin/python build.py

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest -q

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

browser:
	@scripts/ensure-browser
