#!/usr/bin/env python3
"""Fails when the core crate's modules form an import cycle or a layer reaches up.

Every `crate::…` and `super::…` path in a module file is resolved to the module that defines it
(names re-exported by lib.rs or a `mod.rs` are followed to their source). Edges between a module
and its own parent or children are ignored; any other cycle is an error. Each top-level module
also has a layer (see ARCHITECTURE.md): a module may use only its own layer and those below.

Usage: python3 scripts/check_layers.py [crates/embedrec/src]
"""
import os
import re
import sys

# Top-level modules, lowest layer first. Modules on one line share a layer.
LAYERS = [
    ["error"],
    ["util"],
    ["distance"],
    ["codec"],
    ["store"],
    ["index"],
    ["model"],
    ["engine"],
    ["persist"],
    ["shard"],
]

PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+)(::\{[^}]*\})?")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
REEXPORT = re.compile(r"\bpub(?:\([a-z]+\))?\s+use\s+([a-z_:]+)::(\{[^;]*\}|[A-Za-z_][A-Za-z0-9_]*)\s*;", re.S)


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"//[^\n]*", "", text)
    return re.sub(r"/\*.*?\*/", "", text, flags=re.S)


def strip_tests(text):
    # `#[cfg(test)] mod tests { … }` may use anything; it is not part of the layering.
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "crates/embedrec/src"
    files = {}
    for root, _, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                p = os.path.join(root, n)
                files[module_of(src, p)] = strip_tests(strip_comments(open(p).read()))
    modules = set(files)

    # name re-exported by a module -> the module it comes from
    reexports = {}
    for m, text in files.items():
        for base, names in REEXPORT.findall(text):
            parts = base.split("::")
            if parts[0] == "crate":
                target = tuple(parts[1:])
            elif parts[0] == "super":
                target = m[:-1] + tuple(parts[1:])
            elif parts[0] == "self":
                target = m + tuple(parts[1:])
            else:
                target = m + tuple(parts)
            for name in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", names):
                reexports[(m, name)] = target

    def resolve(parts):
        """Deepest existing module along `parts`, following re-exports."""
        best, i = (), 0
        for j in range(1, len(parts) + 1):
            if tuple(parts[:j]) in modules:
                best, i = tuple(parts[:j]), j
        seen = set()
        while i < len(parts) and (best, parts[i]) in reexports and (best, parts[i]) not in seen:
            seen.add((best, parts[i]))
            best = reexports[(best, parts[i])]
            i += 1
        return best

    edges = {m: set() for m in modules}
    for m, text in files.items():
        refs = []
        for group in USE_GROUP.findall(text):
            for item in re.split(r",", group):
                item = item.strip()
                if item:
                    refs.append(["crate"] + re.split(r"::", re.sub(r"\s+as\s+\w+|::\{.*", "", item)))
        for kind, tail, _ in PATH.findall(text):
            refs.append([kind] + tail.strip(":").split("::"))
        for r in refs:
            if r[0] == "crate":
                parts = r[1:]
            else:  # super:: is the parent module, from a file or a mod.rs alike
                parts = list(m[:-1]) + r[1:]
            t = resolve(parts)
            if t and t != m:
                edges[m].add(t)

    def related(a, b):
        return a[: len(b)] == b or b[: len(a)] == a

    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    problems = []
    for m, ts in sorted(edges.items()):
        if not m:
            continue
        for t in sorted(ts):
            if not t:
                continue
            if m[0] not in rank:
                problems.append(f"{'::'.join(m)}: top-level module not placed in a layer")
                break
            if t[0] not in rank:
                problems.append(f"{'::'.join(t)}: top-level module not placed in a layer")
                continue
            if rank[t[0]] > rank[m[0]]:
                problems.append(f"{'::'.join(m)} uses {'::'.join(t)}: a higher layer")

    # Cycles (Tarjan), ignoring parent/child edges.
    graph = {m: {t for t in ts if t and m and not related(m, t)} for m, ts in edges.items()}
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                sccs.append(sorted("::".join(c) for c in comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    for c in sccs:
        problems.append("import cycle: " + " -> ".join(c))
    for p in sorted(set(problems)):
        print(p)
    if problems:
        sys.exit(1)
    print(f"layers ok: {len(modules)} modules, no cycle, no upward use")


if __name__ == "__main__":
    main()
