"""The package's shape: no import circle, no module past 600 lines, and modules that read
other objects' public attributes only (at most a handful of documented exceptions)."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "emglm"
MAX_LINES = 600
MAX_PRIVATE_READS = 5


def _modules():
    out = {}
    for p in sorted(ROOT.rglob("*.py")):
        parts = p.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


def _imports(name, path, modules):
    """Modules of the package that ``name`` imports (at any level of the file)."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules]
            # "from . import em" imports the module emglm.em, not the package's other modules
            found.update(subs if subs else ([target] if target in modules else []))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
    found.discard(name)
    return found


def _cycles(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circle():
    modules = _modules()
    # a package's __init__ re-exports its modules; only module-to-module edges count
    graph = {m: {t for t in _imports(m, p, modules) if not (modules[t].name == "__init__.py" and t in m)}
             for m, p in modules.items()}
    assert _cycles(graph) == []


def test_a_cycle_is_detected():
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def private_reads(source):
    """``obj._name`` reads where ``obj`` is not ``self``/``cls`` (dunder names excluded)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            out.append((node.lineno, ast.unparse(node)))
    return out


def test_private_read_detector():
    assert private_reads("self._a\nres._b\nx.__dict__\n") == [(2, "res._b")]


def test_few_reads_of_other_objects_private_attributes():
    reads = [(str(p.relative_to(ROOT)), ln, txt) for p in sorted(ROOT.rglob("*.py"))
             for ln, txt in private_reads(p.read_text())]
    assert len(reads) <= MAX_PRIVATE_READS, reads
