"""The layers, read from the code: every import of every module of every app (module-level and inside functions)
and every model relation named by string ("members.Member").

Apps depend downward only, bottom to top:

    core -> tenants -> callbacks -> members -> points -> miniprograms -> rights_market | livestream -> analytics
         -> console -> ekr

Apps on one level (rights_market, livestream) do not import each other. A lower app that needs a higher one asks
through a registry or hook the higher app fills in its AppConfig.ready() (callbacks.registry, members.hooks).
Inside an app, modules do not import each other in a circle either (not even through a function-level import):
a service that queues its own app's task names it (core.tasks.enqueue("members.card_update", ...)).

Imports under `if TYPE_CHECKING:` are type hints, never run, and are not counted.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.apps import apps as django_apps

ROOT = Path(__file__).resolve().parent.parent
LEVELS: list[tuple[str, ...]] = [
    ("core",),
    ("tenants",),
    ("callbacks",),
    ("members",),
    ("points",),
    ("miniprograms",),
    ("rights_market", "livestream"),
    ("analytics",),
    ("console",),
    ("ekr",),
]
LEVEL_OF = {app: n for n, level in enumerate(LEVELS) for app in level}
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField"}


@dataclass(frozen=True)
class Use:
    module: str  # the importing module, e.g. "members.services.cards"
    target: str  # a module of ours, e.g. "members.tasks"
    where: str  # path:line

    @property
    def app(self) -> str:
        return self.module.split(".")[0]

    @property
    def target_app(self) -> str:
        return self.target.split(".")[0]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _sources(apps: list[str] | None = None) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for app in apps or list(LEVEL_OF):
        for path in sorted((ROOT / app).rglob("*.py")) if (ROOT / app).is_dir() else []:
            found[_module_name(path)] = path
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """ids of import nodes under `if TYPE_CHECKING:` (never executed)."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skipped.update(id(n) for n in ast.walk(stmt))
    return skipped


def _imported_names(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([node.module] if node.module else []))
    return [f"{base}.{alias.name}" for alias in node.names]


def _relation_label(node: ast.Call) -> str | None:
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
    if name not in RELATIONS:
        return None
    target = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "to"), None)
    if isinstance(target, ast.Constant) and isinstance(target.value, str) and "." in target.value:
        return target.value.split(".")[0]
    return None


def uses(sources: dict[str, Path]) -> list[Use]:
    """Every use of one of our modules by another, read from the source (nothing is imported)."""
    ours = set(sources) | {app for app in LEVEL_OF if (ROOT / app).is_dir()}

    def resolve(name: str) -> str | None:  # "members.services.cards.member_card_push" -> "members.services.cards"
        while name and name not in ours:
            name = name.rpartition(".")[0]
        return name or None

    found: list[Use] = []
    for module, path in sources.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in skipped:
                for name in _imported_names(node, module, path.name == "__init__.py"):
                    target = resolve(name)
                    if target and target != module:
                        found.append(Use(module, target, where))
            elif isinstance(node, ast.Call) and (label := _relation_label(node)) and label in _labels():
                found.append(Use(module, f"{_package_of_label(label)}.models", where))
    return found


def _labels() -> set[str]:
    return {config.label for config in django_apps.get_app_configs()}


def _package_of_label(label: str) -> str:
    return django_apps.get_app_config(label).name


def upward(found: list[Use]) -> list[str]:
    wrong = []
    for use in found:
        here, there = LEVEL_OF.get(use.app), LEVEL_OF.get(use.target_app)
        if here is None or there is None or use.app == use.target_app:
            continue
        if there > here:
            wrong.append(f"{use.where}: {use.module} imports {use.target} ({use.target_app} is above {use.app})")
        elif there == here:
            wrong.append(
                f"{use.where}: {use.module} imports {use.target} ({use.app} and {use.target_app} are on one level)"
            )
    return wrong


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _describe(component: list[str], found: list[Use], key) -> str:
    inside = set(component)
    lines = [
        f"{u.where}: {u.module} -> {u.target}"
        for u in found
        if key(u.module) in inside and key(u.target) in inside and key(u.module) != key(u.target)
    ]
    return " <-> ".join(component) + "\n    " + "\n    ".join(sorted(set(lines)))


@pytest.fixture(scope="module")
def found() -> list[Use]:
    return uses(_sources())


def test_every_app_is_placed_in_a_level():
    ours = {
        config.name.split(".")[0]
        for config in django_apps.get_app_configs()
        if (ROOT / config.name.split(".")[0]).is_dir()
    }
    assert ours - set(LEVEL_OF) == set()


def test_no_app_imports_an_app_above_it_or_beside_it(found):
    assert upward(found) == []


def test_no_circle_between_apps(found):
    edges: dict[str, set[str]] = {}
    for use in found:
        if use.app != use.target_app:
            edges.setdefault(use.app, set()).add(use.target_app)
    assert [_describe(c, found, lambda m: m.split(".")[0]) for c in circles(edges)] == []


def test_no_circle_between_modules_of_an_app(found):
    edges: dict[str, set[str]] = {}
    for use in found:
        if use.app == use.target_app:
            edges.setdefault(use.module, set()).add(use.target)
    assert [_describe(c, found, lambda m: m) for c in circles(edges)] == []


def test_the_checks_see_what_they_are_meant_to(tmp_path):
    """The reader itself: relative and function-level imports, string relations, TYPE_CHECKING skipped."""
    sources = {
        "members.sample": tmp_path / "sample.py",
        "members.other": tmp_path / "other.py",
    }
    sources["members.sample"].write_text(
        "from typing import TYPE_CHECKING\n"
        "from django.db import models\n"
        "from .other import thing\n"
        "if TYPE_CHECKING:\n"
        "    from miniprograms.models import Order\n"
        "def f():\n"
        "    from points.services import points_earn\n"
        "class M(models.Model):\n"
        "    o = models.ForeignKey('miniprograms.Order', on_delete=models.PROTECT)\n"
    )
    sources["members.other"].write_text("def g():\n    from members.sample import f\n")
    found = uses(sources)
    targets = sorted((u.module, u.target) for u in found)
    assert targets == [
        ("members.other", "members.sample"),
        ("members.sample", "members.other"),
        ("members.sample", "miniprograms.models"),
        ("members.sample", "points"),
    ]
    assert len(upward(found)) == 2
    assert circles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
