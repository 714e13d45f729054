"""The `exercise` directive: a box with the download link of a student notebook and launch links.

    ```{exercise} 12_embeddings/01_embedding_lookup
    Optional text shown in the box.
    ```

The argument names a notebook in `notebooks/` (the student release; never `solutions/`). Where the
launch links point is configured once, in `_config.yml` under `sphinx.config.exercise_launch`.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlencode

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

NOTEBOOKS = "notebooks"
LAUNCH_KEYS = ("repository_url", "branch", "binderhub_url", "colab_url", "jupyterhub_url", "interface")
# Domains reserved for examples (RFC 2606): a placeholder address there names no real repository or hub.
PLACEHOLDER_HOSTS = re.compile(r"^https?://([^/]*\.)?example(\.(com|org|net))?(/|$)|^https://github\.com/example-org/")


def is_placeholder(url: str) -> bool:
    return bool(PLACEHOLDER_HOSTS.search(url))


def launch_links(settings: dict, notebook: str) -> list[tuple[str, str]]:
    """(label, url) pairs for `notebook` (a path relative to the repository root); none until
    `repository_url` names a real repository, and none for a hub whose address is a placeholder."""
    unknown = set(settings) - set(LAUNCH_KEYS)
    if unknown:
        raise ValueError(f"exercise_launch has unknown keys {sorted(unknown)}; known: {', '.join(LAUNCH_KEYS)}")
    repository = settings.get("repository_url", "").rstrip("/")
    if not repository or is_placeholder(repository):
        return []
    settings = {key: ("" if is_placeholder(str(value)) else value) for key, value in settings.items()}
    branch = settings.get("branch", "main")
    tree = {"lab": "lab/tree", "classic": "tree"}[settings.get("interface", "lab")]
    links = []
    github = repository.startswith("https://github.com/")
    org_repo = repository.removeprefix("https://github.com/")
    if settings.get("binderhub_url") and repository:
        spec = f"gh/{org_repo}" if github else f"git/{quote(repository, safe='')}"
        links.append(("Binder", f"{settings['binderhub_url'].rstrip('/')}/v2/{spec}/{branch}"
                                f"?urlpath={quote(f'{tree}/{notebook}', safe='/')}"))
    if settings.get("colab_url") and github:
        links.append(("Colab", f"{settings['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/{notebook}"))
    if settings.get("jupyterhub_url") and repository:
        folder = repository.rsplit("/", 1)[-1]
        query = urlencode({"repo": repository, "branch": branch, "urlpath": f"{tree}/{folder}/{notebook}"}, safe="/")
        links.append(("your JupyterHub", f"{settings['jupyterhub_url'].rstrip('/')}/hub/user-redirect/git-pull?{query}"))
    return links


class ExerciseDirective(SphinxDirective):
    required_arguments = 1
    has_content = True

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0].strip("/").removesuffix(".ipynb")
        notebook = f"{NOTEBOOKS}/{name}.ipynb"
        root = Path(self.env.srcdir)
        if not (root / notebook).is_file():
            raise self.error(f"exercise: {notebook} does not exist; run `make release` to generate the "
                             f"student notebooks, or fix the name (it is relative to {NOTEBOOKS}/)")
        box = nodes.admonition(classes=["exercise-links", "tip"])
        box += nodes.title(text=f"Exercise: {Path(notebook).name}")
        if self.content:
            self.state.nested_parse(self.content, self.content_offset, box)
        download = nodes.paragraph()
        download += nodes.Text("Download the notebook: ")
        download += addnodes.download_reference("", "", nodes.literal(text=notebook), refdoc=self.env.docname,
                                                reftarget=f"/{notebook}", refexplicit=True, refdomain="",
                                                reftype="download", refwarn=True)
        box += download
        links = launch_links(self.config.exercise_launch, notebook)
        if links:
            launch = nodes.paragraph()
            launch += nodes.Text("Or open it on ")
            for index, (label, url) in enumerate(links):
                if index:
                    launch += nodes.Text(", " if index < len(links) - 1 else " or ")
                launch += nodes.reference("", label, refuri=url)
            launch += nodes.Text(".")
            box += launch
        return [box]


def setup(app):
    app.add_config_value("exercise_launch", {}, "env", types=[dict])
    app.add_directive("exercise", ExerciseDirective)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
