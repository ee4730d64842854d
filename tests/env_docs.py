#!/usr/bin/env python3
"""env_docs.py - the LWDS_* variables and their documentation agree.

1. Every LWDS_* variable the C code reads (a string literal "LWDS_..." in
   services/, common/ or tools/) is documented in its reference:
   docs/deployment.md ("Configuration reference") for the services and
   lwds-objdef, docs/simulator.md for lwds-sim.
2. Every LWDS_* name the documentation mentions (README.md, docs/*.md,
   bench/README.md) exists in the code: C, Python, shell, meson or deploy
   files.  "LWDS_SIM_*" names a prefix: some name must start with it.

usage: env_docs.py SOURCE_ROOT
"""

import os
import re
import sys

# where the C code of a directory has its variables documented
REFERENCES = (
    ("tools/sim/", "docs/simulator.md"),
    ("services/", "docs/deployment.md"),
    ("common/", "docs/deployment.md"),
    ("tools/", "docs/deployment.md"),
)
DOCS = ("README.md", "bench/README.md")
CODE_EXT = (".c", ".h", ".py", ".sh", ".build", ".yml", ".example",
            "Dockerfile", ".conf")
LITERAL = re.compile(r'"(LWDS_[A-Z0-9_]*[A-Z0-9])"')
NAME = re.compile(r"(LWDS_[A-Z0-9_]*[A-Z0-9])(_?\*)?")


def tracked_files(root):
    """Relative paths of the files of the tree, build directories (those
    holding meson-private), hidden directories and var/ left out."""
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if not x.startswith(".")
                   and x != "var"
                   and not os.path.isdir(os.path.join(d, x, "meson-private"))]
        for f in files:
            yield os.path.relpath(os.path.join(d, f), root)


def read(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8",
              errors="replace") as f:
        return f.read()


def reference_of(rel):
    for prefix, doc in REFERENCES:
        if rel.startswith(prefix):
            return doc
    return None


def main(root):
    files = list(tracked_files(root))
    docs = [f for f in files if f in DOCS or
            (f.startswith("docs/") and f.endswith(".md"))]
    code_files = [f for f in files if f.endswith(CODE_EXT) or
                  os.path.basename(f) == "lwds"]
    code = "\n".join(read(root, f) for f in code_files)
    code_names = set(re.findall(r"LWDS_[A-Z0-9_]*[A-Z0-9]", code))
    errors = []

    for rel in code_files:
        doc = reference_of(rel)
        if doc is None or not rel.endswith((".c", ".h")):
            continue
        documented = set(NAME.findall(read(root, doc)))
        documented = {n for n, _ in documented}
        for name in sorted(set(LITERAL.findall(read(root, rel)))):
            if name not in documented:
                errors.append("%s reads %s, which %s does not document"
                              % (rel, name, doc))

    for rel in sorted(docs):
        for name, star in sorted(set(NAME.findall(read(root, rel)))):
            if star:
                ok = any(n.startswith(name + "_") for n in code_names)
            else:
                ok = name in code_names
            if not ok:
                errors.append("%s mentions %s%s, which no code reads"
                              % (rel, name, star))

    for e in errors:
        print(e)
    print("%d variables in the code, %d documentation files, %d problems"
          % (len(code_names), len(docs), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
