"""Generated files (docs, .env.example, the docs' and compose's generated sections, dashboards,
alerts) match their sources."""

from tools import build


def test_generated_files_are_current():
    stale = build.build(check=True)
    assert stale == [], f"stale generated files {stale}: run `python -m tools.build`"


def test_splice_replaces_only_the_marked_section(tmp_path):
    text = "a\n<!-- BEGIN GENERATED x -->\nold\n<!-- END GENERATED x -->\nb\n"
    assert build.splice(text, "x", "new") == (
        "a\n<!-- BEGIN GENERATED x -->\nnew\n<!-- END GENERATED x -->\nb\n")
