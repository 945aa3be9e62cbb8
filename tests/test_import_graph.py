"""The import graph of tfdis/, kernels/ and binaries/: no cycle, and the library imports no binary.
Also the size of tfdis/reproduce/'s functions and of its report module.

Every module is parsed (ast, not imported), and every import statement in it counts, at the top
or inside a function: `import a.b`, `from a import b` (an edge to a.b when that is a module, else
to a) and `from a.b import name`.
"""
import ast
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOTS = ("tfdis", "kernels", "binaries")
LIBRARY = ("tfdis", "kernels")


def _modules():
  """{dotted module name: path} of every .py file under ROOTS (a package is its __init__.py)."""
  modules = {}
  for root in ROOTS:
    for folder, _, names in os.walk(os.path.join(REPO, root)):
      for name in names:
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          parts = os.path.relpath(path, REPO)[:-len(".py")].split(os.sep)
          modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
  return modules


def _imports(path, name, modules):
  """The modules of `modules` that the module `name` at `path` imports."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:  # relative: from the package, up level - 1 more
        anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
      for alias in node.names:
        found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
  return {m for m in found if m in modules and m != name}


def import_graph():
  """{module: the project modules it imports}, over every module of ROOTS."""
  modules = _modules()
  return {name: _imports(path, name, modules) for name, path in modules.items()}


def find_cycle(graph):
  """A list of modules [a, b, ..., a] that import each other in a ring, or None if there is none."""
  state = {}  # module -> "open" while on the DFS path, "done" once fully explored

  def visit(node, path):
    state[node] = "open"
    path.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == "open":
        return path[path.index(nxt):] + [nxt]
      if nxt not in state:
        cycle = visit(nxt, path)
        if cycle:
          return cycle
    path.pop()
    state[node] = "done"
    return None

  for start in sorted(graph):
    if start not in state:
      cycle = visit(start, [])
      if cycle:
        return cycle
  return None


def test_the_cycle_finder_finds_a_ring_and_nothing_in_a_tree():
  assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
  assert find_cycle({"a": {"a"}}) == ["a", "a"]
  assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_the_graph_sees_lazy_and_from_imports():
  graph = import_graph()
  assert len(graph) > 40
  assert "tfdis.reproduce.plan" in graph["binaries.reproduce"]  # from tfdis.reproduce import plan
  assert "tfdis.flagfiles" in graph["binaries.common"]  # inside a function
  assert "tfdis.reproduce.config" in graph["binaries.flag_defs"]  # from ... import PaperConfig


def test_no_module_imports_itself_through_others():
  cycle = find_cycle(import_graph())
  assert cycle is None, " -> ".join(cycle)


def test_the_library_imports_no_binary():
  graph = import_graph()
  wrong = sorted((name, m) for name, imported in graph.items() if name.startswith(LIBRARY)
                 for m in imported if m.split(".")[0] == "binaries")
  assert not wrong, wrong


def test_no_function_of_reproduce_is_over_80_lines_and_report_py_is_at_most_400():
  folder = os.path.join(REPO, "tfdis", "reproduce")
  long_functions = []
  for name in sorted(os.listdir(folder)):
    if name.endswith(".py"):
      with open(os.path.join(folder, name)) as f:
        source = f.read()
      long_functions += [(name, node.name, node.end_lineno - node.lineno + 1)
                         for node in ast.walk(ast.parse(source))
                         if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                         and node.end_lineno - node.lineno + 1 > 80]
      if name == "report.py":
        assert len(source.splitlines()) <= 400
  assert not long_functions, long_functions
