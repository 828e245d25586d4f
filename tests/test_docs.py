"""The docs that are generated agree with what they are generated from, and every figure in
docs/benchmarks.md names a bench that exists, so neither can drift from the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vidseek.core.settings import Settings
from vidseek.docs import README_SETTINGS, generated, main, settings_table

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(generated()))
def test_generated_docs_are_what_the_generator_writes(name):
    written = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert written == generated()[name], f"docs/{name} is out of date: run python -m vidseek.docs"


def test_the_generator_writes_every_setting_and_route(tmp_path, capsys):
    assert main([str(tmp_path)]) == 0
    settings = (tmp_path / "settings.md").read_text(encoding="utf-8")
    assert all(f"| `{name}` |" in settings for name, _, _ in Settings.table())
    api = (tmp_path / "api.md").read_text(encoding="utf-8")
    from vidseek.web.openapi import openapi_document

    routes = openapi_document(Settings.load(env={}))["paths"]
    assert all(f"### {method.upper()} `{path}`" in api
               for path, ops in routes.items() for method in ops)


def test_the_readme_lists_its_settings_as_declared():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table(README_SETTINGS) in readme, (
        "README.md's settings table is out of date: paste "
        "vidseek.docs.settings_table(README_SETTINGS)")


def test_every_bench_in_the_benchmarks_doc_exists():
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    benches = set(re.findall(r"python -m bench\.(\w+)", text))
    assert benches, "docs/benchmarks.md names no bench"
    assert {b for b in benches if not (ROOT / "bench" / f"{b}.py").is_file()} == set()


def test_every_bench_has_its_row_in_the_benchmarks_doc():
    text = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    runnable = {p.stem for p in (ROOT / "bench").glob("*.py") if "__main__" in p.read_text()}
    missing = {b for b in runnable if f"python -m bench.{b}" not in text}
    assert missing == set(), f"docs/benchmarks.md has no figure for: {', '.join(sorted(missing))}"
