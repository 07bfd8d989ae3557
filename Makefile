# make book [PROFILE=smoke|cpu|paper]   execute every chapter, build HTML into _build/html
# make test                             the test suite (unit tests + every chapter in the smoke profile)
# make sweep | prototypes | landscapes  fill the result store for one stage without building the book
PROFILE ?= cpu
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install book test sweep prototypes landscapes clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[book,test]'
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python scripts/build_book.py --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest

sweep: $(STAMP)
	$(BIN)/python -m lib.sweep --profile $(PROFILE)

prototypes: $(STAMP)
	$(BIN)/python -m lib.prototype_study --profile $(PROFILE)

landscapes: $(STAMP)
	$(BIN)/python -m lib.landscape_study --profile $(PROFILE)

clean:
	rm -rf _build book/*.ipynb
