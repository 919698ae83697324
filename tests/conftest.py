"""Shared test setup: offline, deterministic, small thread pool."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import sys  # noqa: E402

# shared helpers (tests/tiny_specs.py) importable from every test folder
sys.path.insert(0, os.path.dirname(__file__))
