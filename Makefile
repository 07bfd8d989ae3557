# make book [PROFILE=smoke|cpu|paper]   fill the store (make store), execute every chapter, build HTML into _build/html
# make test                             the test suite (unit tests + every chapter in the smoke profile)
# make lint                             ruff format --check and ruff check over lib, book, tests, scripts, benchmarks
# make sweep | prototypes | landscapes  fill the result store for one stage without building the book
# make check-book                       open every page of _build/html in headless Chromium (offline); fail on raw
#                                       LaTeX, broken images, progress bars, raw Markdown tables, console errors;
#                                       full-page screenshots in _build/screenshots/
# make store [PROFILE=..] [ENGINE=local|ray] [WORKERS=N]   every store entry the book needs (python -m lib.plan);
#                                       cpu: Ray, one worker per (cores / the profile's threads); else local
# make paper-dry                        the paper profile's exact code path at toy size on the CPU (minutes)
# make publish [PROFILE=cpu]            write published/<profile>/ (what the book reads) from a filled store,
#                                       and the README's findings table from it (python -m lib.publish)
# make verify-published [PROFILE=cpu]   recompute a sample from an empty store, compare with the snapshot
PROFILE ?= cpu
# cpu: Ray with single-thread workers, on 2 cores as fast as or faster than one 2-thread process (issue 20,
# real stages, 2026-12-06: 42 prototype attacks 200 s against 248 s, a SEP lambda sweep of 8 models 261 s
# against 264 s); smoke's tasks take seconds and paper runs on a GPU, both in one process.
ENGINE ?= $(if $(filter cpu,$(PROFILE)),ray,local)
WORKERS ?=
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LINTED := lib book tests scripts benchmarks

TRACE ?= _build/store-trace.txt

.PHONY: install book check-book test lint sweep prototypes landscapes store paper-dry publish verify-published clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[book,test]'
	touch $(STAMP)

install: $(STAMP)

book: store
	$(BIN)/python scripts/build_book.py --profile $(PROFILE)

check-book: $(STAMP)
	$(BIN)/python scripts/check_book.py

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/ruff check $(LINTED)

sweep: $(STAMP)
	$(BIN)/python -m lib.studies.sweep --profile $(PROFILE)

prototypes: $(STAMP)
	$(BIN)/python -m lib.studies.prototypes --profile $(PROFILE)

landscapes: $(STAMP)
	$(BIN)/python -m lib.studies.landscape --profile $(PROFILE)

store: $(STAMP)
	$(BIN)/python -m lib.plan --profile $(PROFILE) --engine $(ENGINE) $(if $(WORKERS),--workers $(WORKERS),)

paper-dry: $(STAMP)
	$(BIN)/python scripts/paper_dry.py

# the chapters run once with every store read traced, so the snapshot holds exactly what the pages read
publish: $(STAMP)
	mkdir -p $(dir $(TRACE)) && rm -f $(TRACE)
	STORE_TRACE=$(abspath $(TRACE)) $(BIN)/python scripts/build_book.py --profile $(PROFILE) --no-html
	$(BIN)/python -m lib.publish --profile $(PROFILE) --trace $(TRACE)
	$(if $(filter cpu,$(PROFILE)),$(BIN)/python -m lib.publish --profile cpu --readme,)

verify-published: $(STAMP)
	$(BIN)/python -m lib.publish --profile $(PROFILE) --verify

clean:
	rm -rf _build book/*.ipynb   # keeps .cache/ (the verified MathJax tarball)
