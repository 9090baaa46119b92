"""The package's import graph: no cycles, and the layers point one way.

Read from the source. Cycles are looked for among the imports that run when
a module is imported (not those inside functions: a lazy import such as
``distsearch.models``' re-export of the Keras helpers cannot loop); the
layers are checked on every import, lazy ones included.
"""

import ast
from pathlib import Path

import distsearch

PACKAGE = Path(distsearch.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _nodes(tree, lazy):
    """The nodes of a module, without function bodies unless ``lazy``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if lazy or not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                todo.append(child)


def _graph(lazy=True):
    """``{module: set of distsearch modules it imports}``."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in _nodes(ast.parse(path.read_text()), lazy):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                # "from . import x" may name a module
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            edges |= {t for t in targets if t in modules and t != name}
        graph[name] = edges
    return graph


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "active"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "active":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _reaches(graph, start):
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_no_import_cycles():
    graph = _graph(lazy=False)
    # A package's __init__ re-exporting its submodules is not a cycle of code.
    graph = {
        name: {t for t in edges if not (name.startswith(t + ".") and t in graph)}
        for name, edges in graph.items()
    }
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_task_data_worker_evaluation_and_engines_each_in_their_own_layer():
    graph = _graph()
    # The task data, and what a fit leaves, build on nothing of distsearch.
    assert graph["distsearch._tasks"] == set()
    assert graph["distsearch._outcome"] == set()
    # The worker-side evaluation imports no engine and nothing of the driver.
    worker = _reaches(graph, "distsearch._evaluate")
    assert not {m for m in worker if m.startswith("distsearch.engines")}, worker
    assert not worker & {"distsearch._dispatch", "distsearch._search", "distsearch._schedule"}
    # Engines know the engine interface (and the one missing-extra message)
    # only: no task data, no evaluation, nothing of the search.
    engines = [m for m in graph if m.startswith("distsearch.engines")]
    assert {"distsearch.engines._joblib", "distsearch.engines._dask",
            "distsearch.engines._ray", "distsearch.engines._spark"} <= set(engines)
    for module in engines:
        assert _reaches(graph, module) <= {*engines, "distsearch._extras"}, module
    # The scheduler and the reports do not import the transport.
    assert "distsearch._dispatch" not in _reaches(graph, "distsearch._schedule")
    assert "distsearch._dispatch" not in graph["distsearch._reports"]


# The application: the command line, the tournament, its config and data, the
# reports (summary, report.html) and the run history. It sits on the
# estimator (MultiModelSearchCV and what it runs on), never the other way.
APPLICATION = {
    f"distsearch.{name}"
    for name in ("__main__", "_cli", "_tournament", "_config", "_data", "_datacheck", "_reports", "_html", "_runs")
}


def test_the_estimator_does_not_import_the_application():
    graph = _graph()
    assert APPLICATION <= set(graph)
    wrong = sorted(
        (module, target)
        for module, targets in graph.items()
        if module not in APPLICATION
        for target in targets
        if target in APPLICATION
    )
    assert wrong == []


# The private helpers the application may import, and only from these shared
# lower-layer modules: each is a helper both layers build on, whose one
# implementation the estimator and the application share. Any other private
# name of a module below the application (_search, _halving, _optuna,
# _runtime, _dispatch, _evaluate, _fit, _schedule, _prefix, _tasks,
# _checkpoint, engines, ...) is an error: the application goes through the
# estimator's public surface (MultiModelSearchCV and its attributes,
# distsearch.engines' registry, ...).
SHARED_PRIVATE = {
    # What a fit leaves (a failed fit's error text, a model's best
    # iteration): read by the search's warnings and by the summary.
    "distsearch._outcome": {"_exception_text", "_best_iteration"},
    # Parameter spaces: the config checks, and --quick shrinks, the same
    # spaces the search's constructor checks.
    "distsearch._spaces": {
        "_LENGTH_PARAMS", "_check_models", "_check_n_iter",
        "_is_distribution", "_iteration_resource", "_subspaces",
    },
    # Plotting: the reports draw with the same figure setup and per-model
    # rows as the search's plot methods.
    "distsearch._plots": {"_figure", "_axes_of", "_model_rows"},
    # Options the command line shares with the search's constructor and
    # fit(shard=, store=), checked before any fit by the same checks.
    "distsearch._progress": {"_check_progress"},
    "distsearch._shard": {"_check_shard", "_check_store"},
    # A contenders spec, read as from_contenders_spec reads it, with its notes.
    "distsearch._contenders": {"_read_spec"},
}


def _application_private_imports():
    """``{(application module, imported module, private name)}``, lazy imports included."""
    found = set()
    for module in sorted(APPLICATION):
        path = PACKAGE / f"{module.rpartition('.')[2]}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = ".".join(["distsearch"] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if not (base == "distsearch" or base.startswith("distsearch.")):
                continue
            for alias in node.names:
                if base == "distsearch":
                    # ``from . import _x`` takes a whole private module: any of its names
                    target, name = f"distsearch.{alias.name}", "*"
                else:
                    target, name = base, alias.name
                if alias.name.startswith("_") and target not in APPLICATION:
                    found.add((module, target, name))
    return found


def test_the_application_imports_only_public_names_of_the_estimator():
    found = _application_private_imports()
    wrong = sorted(
        (module, target, name)
        for module, target, name in found
        if name not in SHARED_PRIVATE.get(target, set())
    )
    assert wrong == []
    # The shared list holds only what is used: a helper that stops being
    # shared leaves it.
    used = {(target, name) for _, target, name in found}
    unused = sorted(
        (target, name) for target, names in SHARED_PRIVATE.items() for name in names if (target, name) not in used
    )
    assert unused == []


def _private_sklearn_imports(tree):
    """``(line, name)`` of each private scikit-learn name a module imports.

    Private: a name starting with ``_`` or any name taken from a module path
    with a ``_`` part (``sklearn.metrics._scorer``), in imports at module
    level or inside functions.
    """
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [(node.module, alias.name) for alias in node.names]
        else:
            continue
        for module, name in modules:
            parts = module.split(".")
            if parts[0] != "sklearn":
                continue
            if any(p.startswith("_") for p in parts) or (name or "").startswith("_"):
                found.append((node.lineno, f"{module}.{name}" if name else module))
    return found


def test_private_scikit_learn_names_come_from_the_compatibility_module_only():
    compat = PACKAGE / "_sklearn_compat.py"
    # The compatibility module does import them, and builds on nothing of distsearch.
    assert _private_sklearn_imports(ast.parse(compat.read_text()))
    assert _graph()["distsearch._sklearn_compat"] == set()
    elsewhere = sorted(
        (str(path.relative_to(PACKAGE.parent)), line, name)
        for path in PACKAGE.rglob("*.py")
        if path != compat
        for line, name in _private_sklearn_imports(ast.parse(path.read_text()))
    )
    assert elsewhere == []


def test_the_application_uses_only_the_public_attributes_of_a_search():
    # No ``search._models()`` and the like: a fitted search is read through
    # its public attributes and methods (cv_results_, leaderboard(), ...).
    private = []
    for module in sorted(APPLICATION):
        path = PACKAGE / f"{module.rpartition('.')[2]}.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
                continue
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            if name == "search" and not node.attr.startswith("__"):
                private.append((module, node.lineno, node.attr))
    assert private == []
