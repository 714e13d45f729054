"""Build-level checks of the website: no solution or hidden test anywhere in it, nothing fetched from
outside, every exercise linked, every figure described."""
from __future__ import annotations

import filecmp
from pathlib import Path
from urllib.parse import urlparse

import pytest

from helpers import exercise_links_extension
from leaks import leaked, secret_lines
from coursekit.sources import ROOT, solution_notebooks
from website_fixtures import (OUTSIDE_URL, SCHEME_URL, VENDORED, built_files, parse_html,
                              readable_text, site, student_notebook_lines, toc_pages, without_comments)  # noqa: F401

CHAPTERS = ["book/02_tensor.html", "book/11_tokenization.html", "book/12_embedding_lookup.html",
            "book/12_positional_encoding.html", "book/12_embedding_systems.html",
            "book/12_embeddings_at_scale.html"]
TEXT_SUFFIXES = (".html", ".js", ".txt", ".ipynb", ".md", ".py", ".json", ".css")
# Attributes through which a browser fetches something by itself. Links (<a href>) and text are harmless.
FETCHING = {"src", "srcset", "poster", "data", "background", "formaction", "action"}
FETCHING_LINK_RELS = {"stylesheet", "preload", "prefetch", "modulepreload", "icon", "shortcut icon",
                      "apple-touch-icon", "manifest", "dns-prefetch", "preconnect"}
# Outside addresses that occur in the theme's JavaScript, outside comments, without being fetched.
HARMLESS_JS_HOSTS = {
    "www.w3.org": "XML namespace names passed to createElementNS",
    "pydata-sphinx-theme.readthedocs.io": "a link in a console.info message of the pydata theme",
}


@pytest.fixture(scope="module")
def secrets() -> set[str]:
    """Lines of the solution and hidden-test regions, less those the student notebooks show anyway
    (generic lines such as `raise TypeError(` that are hidden in one notebook and public in another)."""
    lines = secret_lines(solution_notebooks()) - student_notebook_lines(ROOT / "notebooks")
    assert len(lines) > 50, f"only {len(lines)} secret lines found in solutions/: the leak check would check little"
    return lines


def test_the_leak_scanner_finds_a_line_split_by_highlighting(secrets, tmp_path):
    """Check that a secret line still counts as leaked when Pygments wraps its tokens and escapes it."""
    line = sorted(secrets)[0]
    spans = "".join(f'<span class="n">{ch.replace("&", "&amp;").replace("<", "&lt;")}</span>' for ch in line)
    page = tmp_path / "page.html"
    page.write_text(f"<html><body><pre>    {spans}\n</pre></body></html>")
    assert leaked(secrets, readable_text(page)) == [line]


def test_no_solution_or_hidden_test_line_anywhere_in_the_site(site, secrets):
    """Check every page, script, source copy and download of the built site for secret lines."""
    files = built_files(site, TEXT_SUFFIXES)
    assert any(p.suffix == ".ipynb" for p in files), "the scan found no downloadable notebook to check"
    leaks = {}
    for path in files:
        found = leaked(secrets, readable_text(path))
        if found:
            leaks[path.relative_to(site).as_posix()] = found[:5]
    assert not leaks, f"solution or hidden-test lines are published on the website: {leaks}"


def test_downloads_are_exactly_the_student_notebooks(site):
    """Check that every file offered for download is a notebook of notebooks/, byte for byte."""
    downloads = sorted((site / "_downloads").rglob("*.*"))
    students = sorted((ROOT / "notebooks").rglob("*.ipynb"))
    assert downloads, "the website offers no download; each chapter should link its exercise notebook"
    for path in downloads:
        assert any(path.name == s.name and filecmp.cmp(path, s, shallow=False) for s in students), (
            f"{path.relative_to(site)} is not one of the student notebooks in notebooks/")


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_each_chapter_links_its_exercise_notebook(site, chapter):
    """Check that a chapter offers a notebook for download and at least one launch link."""
    tags = parse_html((site / chapter).read_text()).tags
    hrefs = [attrs.get("href", "") for tag, attrs in tags if tag == "a"]
    assert any("_downloads/" in h and h.endswith(".ipynb") for h in hrefs), f"{chapter} has no notebook download"
    launch = [h for h in hrefs if "urlpath=" in h or "colab" in h]
    assert bool(launch) == bool(_exercise_links_extension().launch_links(_launch_settings(), "x.ipynb")), (
        f"{chapter}: launch links {launch} do not follow _config.yml's exercise_launch")


def test_every_toc_page_was_built(site):
    missing = [page for page in toc_pages() if not (site / page).exists()]
    assert not missing, f"pages of _toc.yml missing from the build: {missing}"


def test_no_page_fetches_anything_from_outside(site):
    """Check the attributes and inline scripts through which a page would load something by itself."""
    problems = []
    for path in built_files(site, (".html",)):
        parsed = parse_html(path.read_text())
        for tag, attrs in parsed.tags:
            rel = attrs.get("rel", "").lower()
            for name, value in attrs.items():
                fetches = name in FETCHING or name == "style" or (
                    tag == "link" and name == "href" and rel in FETCHING_LINK_RELS)
                if fetches and OUTSIDE_URL.search(value):
                    problems.append(f"{path.relative_to(site)}: <{tag} {name}={value!r}>")
        for tag, body in parsed.inline:
            if OUTSIDE_URL.search(body):
                problems.append(f"{path.relative_to(site)}: inline <{tag}> names {OUTSIDE_URL.search(body).group()}")
    assert not problems, "pages would fetch from outside 127.0.0.1:\n" + "\n".join(problems)


def test_scripts_and_styles_name_no_outside_host(site):
    """Check our JavaScript and CSS (MathJax's vendored bundle aside) for addresses of other hosts."""
    problems = []
    for path in built_files(site, (".js", ".css")):
        for match in SCHEME_URL.finditer(without_comments(path.read_text(errors="replace"))):
            if urlparse(match.group()).hostname not in HARMLESS_JS_HOSTS:
                problems.append(f"{path.relative_to(site)}: {match.group()}")
    assert not problems, "scripts or styles name outside hosts:\n" + "\n".join(sorted(set(problems)))


def test_math_is_served_by_the_site(site):
    """Check that pages load MathJax from the site itself, and that the file is there."""
    page = site / "book" / "12_positional_encoding.html"
    sources = [a.get("src", "") for t, a in parse_html(page.read_text()).tags if t == "script"]
    mathjax = [s for s in sources if "mathjax" in s.lower()]
    assert mathjax, "the page loads no MathJax"
    for src in mathjax:
        assert not OUTSIDE_URL.search(src), f"MathJax is loaded from outside: {src}"
        assert (page.parent / src.split("?")[0]).resolve().is_file(), f"{src} is not in the built site"
    assert VENDORED.is_dir()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_has_alt_text(site, chapter):
    images = [a for t, a in parse_html((site / chapter).read_text()).tags if t == "img"]
    figures = [a for a in images if "_images/" in a.get("src", "")]
    assert figures, f"{chapter} has no figure computed at build time"
    undescribed = [a["src"] for a in figures if len(a.get("alt", "").split()) < 5]
    assert not undescribed, f"{chapter}: figures without a real alt text: {undescribed}"


def test_the_api_reference_publishes_no_source_code(site):
    """viewcode would publish the package source, solutions included."""
    assert not (site / "_modules").exists(), "_build/html/_modules exists: remove sphinx.ext.viewcode"
    api = (site / "book" / "api.html").read_text()
    assert "viewcode" not in api
    for name in ("tensor.Tensor", "tokenization.CharTokenizer", "embeddings.Embedding", "embeddings.PositionalEncoding",
                 "embeddings.RotaryEmbedding", "embedding_systems.embedding_memory", "embedding_systems.EmbeddingBag"):
        assert f'id="tinytorch_lite.core.{name}"' in api, f"the API reference does not document {name}"
    for name in ("plots.plot_profile", "profiling.profile_lookup", "reference.ModelEmbedding",
                 "extrapolation.run_lab", "training.train_with_adam", "timing.best_seconds"):
        assert f'id="tinytorch_lite.analysis.{name}"' in api, f"the API reference does not document {name}"


def _exercise_links_extension():
    return exercise_links_extension()


def test_launch_links_follow_the_configuration():
    """Check the Binder, Colab and JupyterHub addresses built from _config.yml's exercise_launch."""
    launch_links = _exercise_links_extension().launch_links
    notebook = "notebooks/11_tokenization/tokenization.ipynb"
    links = dict(launch_links({"repository_url": "https://github.com/org/course", "branch": "spring",
                               "binderhub_url": "https://mybinder.org/", "colab_url": "https://colab.research.google.com",
                               "jupyterhub_url": "https://hub.example.edu"}, notebook))
    assert links["Binder"] == f"https://mybinder.org/v2/gh/org/course/spring?urlpath=lab/tree/{notebook}"
    assert links["Colab"] == f"https://colab.research.google.com/github/org/course/blob/spring/{notebook}"
    assert links["your JupyterHub"].startswith("https://hub.example.edu/hub/user-redirect/git-pull?repo=")
    assert f"urlpath=lab/tree/course/{notebook}" in links["your JupyterHub"]
    assert launch_links({"repository_url": "https://gitlab.com/org/course", "colab_url": "https://colab.research.google.com"},
                        notebook) == [], "Colab opens GitHub repositories only"
    assert launch_links({}, notebook) == []
    assert launch_links({"repository_url": "https://github.com/example-org/tinytorch_lite"}, notebook) == [], (
        "a placeholder repository must show no launch link")
    hub = dict(launch_links({"repository_url": "https://github.com/org/course", "jupyterhub_url": "https://jupyterhub.example.org",
                             "binderhub_url": "https://mybinder.org"}, notebook))
    assert list(hub) == ["Binder"], f"a placeholder hub must show no link: {hub}"
    with pytest.raises(ValueError, match="unknown keys"):
        launch_links({"binder_url": "https://mybinder.org"}, notebook)


def test_chapters_use_only_the_public_api():
    """Check that the code of the chapters imports only names in the package's __all__ and touches no
    private attribute, so the website never shows how the package is implemented."""
    import ast
    import importlib

    import jupytext

    problems = []
    for path in sorted((ROOT / "book").glob("*.md")):
        notebook = jupytext.read(path, fmt="md:myst")
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tinytorch_lite"):
                    public = getattr(importlib.import_module(node.module), "__all__", [])
                    problems += [f"{path.name}: {node.module}.{a.name}" for a in node.names if a.name not in public]
                elif isinstance(node, ast.Import) and any(a.name.startswith("tinytorch_lite") for a in node.names):
                    problems.append(f"{path.name}: import {', '.join(a.name for a in node.names)} (import names instead)")
                elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                    problems.append(f"{path.name}: private attribute .{node.attr}")
    assert not problems, "the chapters use more than the public API:\n" + "\n".join(problems)


def _launch_settings() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"].get("exercise_launch", {})


def test_the_configured_repository_is_real_or_shows_no_launch_link():
    """Check that the shipped _config.yml offers no launch link to a placeholder repository."""
    settings = _launch_settings()
    links = _exercise_links_extension().launch_links(settings, "notebooks/x.ipynb")
    assert not links or not _exercise_links_extension().is_placeholder(settings["repository_url"]), links


def test_api_signatures_name_their_defaults_instead_of_printing_them(site):
    """Check that a default such as models=MODEL_EMBEDDINGS is shown by name, not as the whole table."""
    text = "".join(parse_html((site / "book" / "api.html").read_text()).text)
    assert "models=MODEL_EMBEDDINGS" in text
    assert "ModelEmbedding(name=" not in text, "a signature prints the model table as its default argument"
