#!/usr/bin/env python3
"""Fails when the modules of any crate import each other in a cycle.

A module is a top-level module of a crate (`crates/<crate>/src/<module>.rs` and everything under
`<module>/`); an edge is a `crate::<module>` path in its non-test code. Tests (`*_tests.rs`,
`tests.rs`, `test_support.rs`, `#[cfg(test)] mod tests`) and comments are ignored.

Usage: tests/scripts/module-cycles.py [REPO_ROOT]
"""
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")


def modules(src):
    mods = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            if not rel or rel[-1].endswith("_tests") or rel[-1] in ("tests", "test_support"):
                continue
            mods.setdefault(rel[0], []).append(os.path.join(dirpath, name))
    return mods


def edges(mods):
    graph = {m: set() for m in mods}
    for module, files in mods.items():
        for path in files:
            text = open(path, encoding="utf-8").read()
            text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
            text = re.sub(r"//.*", "", text)
            used = set(re.findall(r"crate::(\w+)", text))
            for group in re.findall(r"crate::\{([^}]*)\}", text):
                used |= set(re.findall(r"(\w+)", group))
            graph[module] |= {u for u in used if u in graph and u != module}
    return graph


def cycles(graph):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


failed = False
for crate in sorted(os.listdir(os.path.join(root, "crates"))):
    src = os.path.join(root, "crates", crate, "src")
    if not os.path.isdir(src):
        continue
    graph = edges(modules(src))
    for component in cycles(graph):
        failed = True
        detail = ", ".join(f"{m} -> {sorted(graph[m] & set(component))}" for m in component)
        print(f"import cycle in crates/{crate}: {detail}")
if failed:
    sys.exit(1)
print("module-cycles: no import cycles")
