# Shortcuts for tools/kit.py (which needs only python3). `make help` lists them.
PYTHON ?= python3
KIT = $(PYTHON) tools/kit.py
VENV_PY = .venv/bin/python

.PHONY: help setup lab test refresh student benchmark lock format clean

help:
	@echo "make setup      create .venv and install the pinned stack (skipped when up to date)"
	@echo "make lab        set up, then open JupyterLab on notebooks/"
	@echo "make test       set up, then ruff + unit tests + strict nbval on every notebook"
	@echo "make refresh    re-execute every notebook in place (NOTEBOOKS=... for some)"
	@echo "make student    write the student editions to build/student/"
	@echo "make benchmark  time every notebook against the floor"
	@echo "make lock       re-resolve requirements.txt into requirements-lock.txt"
	@echo "make format     ruff format and fix the code and notebooks"
	@echo "make clean      delete artifacts/ and build/"

setup:
	$(KIT) setup

lab:
	$(KIT) lab

test:
	$(KIT) test

refresh:
	$(KIT) refresh $(NOTEBOOKS)

student:
	$(KIT) student

benchmark:
	$(KIT) benchmark

lock:
	$(KIT) lock

format: setup
	$(VENV_PY) -m ruff format .
	$(VENV_PY) -m ruff check --fix .

clean:
	$(KIT) clean
