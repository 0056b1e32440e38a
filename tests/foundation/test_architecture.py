"""The house rules of the code, checked on the source (the review of "One house").

- catalog imports nothing of connections; vault imports nothing of ours;
- services never import tasks; no import circle, not even through imports inside functions;
- only connections/auth/ and catalog/schema.py compare auth modes;
- only services/health.py assigns a connection's status;
- an import inside a function says why (a comment on it or just above it).
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("catalog", "connections", "vault", "sandbox", "config")


def sources(*apps):
    for app in apps:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, *, top_level_only: bool, known=()):
    """Yield the absolute module names a file imports (relative imports resolved).

    `from package import module` yields the module alone when it is one of `known`.
    """
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            if known and all(name in known for name in submodules):
                yield from submodules  # `from . import tasks`: the package's code is not used
            else:
                yield module
                yield from submodules


def test_catalog_and_vault_do_not_import_connections():
    offenders = [
        (str(path.relative_to(ROOT)), name)
        for app, forbidden in (("catalog", ("connections",)), ("vault", ("connections", "catalog", "sandbox")))
        for path in sources(app)
        for name in imported_modules(path, top_level_only=False)
        if name.split(".")[0] in forbidden
    ]
    assert offenders == []


def test_services_never_import_tasks():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "connections" / "services").rglob("*.py")
        if any(name.startswith("connections.tasks") for name in imported_modules(path, top_level_only=False))
    ]
    assert offenders == []


def test_no_import_circle_even_through_imports_inside_functions():
    known = {module_name(path): path for path in sources(*APPS)}
    graph = defaultdict(set)
    for name, path in known.items():
        for target in imported_modules(path, top_level_only=False, known=known):
            if target in known and target != name and not name.startswith(target + "."):
                graph[name].add(target)
    circles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = "done"

    for node in sorted(known):
        if node not in state:
            visit(node, [node])
    assert circles == []


AUTH_MODE_COMPARISON = re.compile(r"auth_mode\s*(==|!=|\bin\b|not in)|AuthMode\.[A-Z_]+")


def test_only_the_auth_modes_and_the_schema_compare_auth_modes():
    allowed = {ROOT / "catalog" / "schema.py"}
    offenders = []
    for path in sources("catalog", "connections", "sandbox"):
        if "auth" in path.relative_to(ROOT).parts[1:2] or path in allowed:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if AUTH_MODE_COMPARISON.search(line.split("#")[0]):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


STATUS_ASSIGNMENT = re.compile(
    r"\.status\s*=(?!=)\s*(?P<value>[^\n]+)|\.(update|create)\([^)]*\bstatus=(?P<kwarg>[^,)]+)"
)


def test_only_the_health_service_writes_a_connection_status():
    writer = ROOT / "connections" / "services" / "health.py"
    offenders = []
    for path in sources("connections"):
        if path == writer:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#")[0]
            match = STATUS_ASSIGNMENT.search(code)
            if not match:
                continue
            value = match.group("value") or match.group("kwarg") or ""
            if value.startswith(("Attempt.Status.", "PublicationRequest.Status.")):
                continue  # an attempt's or a publication request's own status
            offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_imports_inside_functions_say_why():
    offenders = []
    for path in sources(*APPS):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for sub in ast.walk(node):
                if isinstance(sub, (ast.Import, ast.ImportFrom)):
                    here = lines[sub.lineno - 1]
                    above = "\n".join(lines[max(0, sub.lineno - 4): sub.lineno - 1])
                    if "#" not in here and "#" not in above and '"""' not in above:
                        offenders.append(f"{path.relative_to(ROOT)}:{sub.lineno}: {here.strip()}")
    assert offenders == []
