"""The `exercise` directive: a box with what the student writes in a notebook, the tests that grade
it, the notebook's download link and launch links.

    ```{exercise} 12_embeddings/01_embedding_lookup
    Optional text shown in the box.
    ```

The argument names a notebook in `notebooks/` (the student release; never `solutions/`). The list of
tasks is read from that notebook's nbgrader cells, so it cannot drift from what is graded: each
solution cell gives the functions whose stubs raise `NotImplementedError`, each graded cell after it
its grade id, points and the first line of its docstring. Where the launch links point is configured
once, in `_config.yml` under `sphinx.config.exercise_launch`.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
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


@dataclass
class Check:
    grade_id: str
    points: float
    text: str  # the docstring's first paragraph, or what a cell graded by hand is
    by_hand: bool = False


@dataclass
class Task:
    """One solution cell of a notebook: the functions to write in it and the graded cells after it."""
    functions: list[str]
    checks: list[Check] = field(default_factory=list)


def _stubbed_functions(source: str) -> list[str]:
    """Qualified names of the functions around each `raise NotImplementedError` of a stub cell, in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []

    def is_stub(node) -> bool:
        if not isinstance(node, ast.Raise) or node.exc is None:
            return False
        exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, f"{prefix}{child.name}.")
            elif is_stub(child):
                name = prefix.rstrip(".") or "(top-level code)"
                if name not in names:
                    names.append(name)
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def _docstring(source: str) -> str:
    try:
        text = ast.get_docstring(ast.parse(source)) or ""
    except SyntaxError:
        match = re.match(r'\s*(?:"""|\'\'\')(.*?)(?:"""|\'\'\')', source, re.S)
        text = match.group(1) if match else ""
    return " ".join(text.strip().split("\n\n")[0].split())


def exercise_tasks(notebook: Path) -> list[Task]:
    """What a student writes in `notebook` (a released .ipynb) and the graded cells that check it."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    tasks: list[Task] = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        graded, solution = bool(meta.get("grade")), bool(meta.get("solution"))
        if cell["cell_type"] == "code" and solution and not graded:
            tasks.append(Task(_stubbed_functions(source)))
            continue
        if not (graded or meta.get("task")):
            continue
        if not tasks:
            tasks.append(Task([]))  # graded cells before any solution cell check earlier parts' code
        points = meta.get("points", 0)
        if cell["cell_type"] == "code" and graded and not solution:
            tasks[-1].checks.append(Check(meta["grade_id"], points, _docstring(source)))
        else:
            kind = {"markdown": "a written answer"}.get(cell["cell_type"], "code of your own")
            if meta.get("task"):
                kind = "the task described in the notebook"
            tasks[-1].checks.append(Check(meta["grade_id"], points, f"{kind}, graded by hand", by_hand=True))
    return tasks


def _points(value: float) -> str:
    value = int(value) if float(value).is_integer() else value
    return f"{value} point{'' if value == 1 else 's'}"


def task_list(tasks: list[Task]) -> list[nodes.Node]:
    total = sum(check.points for task in tasks for check in task.checks)
    intro = nodes.paragraph(text=f"What you write, and the graded tests that check it ({_points(total)} in all):")
    items = nodes.bullet_list(classes=["exercise-tasks"])
    for task in tasks:
        item = nodes.list_item(classes=["exercise-task"])
        line = nodes.paragraph()
        if task.functions:
            for index, name in enumerate(task.functions):
                if index:
                    line += nodes.Text(", ")
                line += nodes.literal(text=name)
        else:
            line += nodes.Text("code you wrote earlier in the notebook")
        item += line
        checks = nodes.bullet_list()
        for check in task.checks:
            entry = nodes.list_item(classes=["exercise-check"])
            text = nodes.paragraph()
            text += nodes.literal(text=check.grade_id)
            text += nodes.Text(f" ({_points(check.points)}): {check.text}")
            entry += text
            checks += entry
        if task.checks:
            item += checks
        items += item
    return [intro, items]


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
        self.env.note_dependency(str(root / notebook))  # the task list is read from the notebook
        box.extend(task_list(exercise_tasks(root / notebook)))
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
