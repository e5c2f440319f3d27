"""Which package may import which, read from the source with ast (nothing is imported).

The engine (`stream`) is at the bottom and knows nothing of the wire. `serve` (the server and its
client) sits on the engine; `lab` (the lab's tools that talk to a server) on `serve` and the
engine; `cli` (the `stream` command) on all three. `train` stands beside them, on the engine alone.
Imports inside functions count as much as those at the top.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("stream", "serve", "lab", "cli", "train")


def _imports(package: str) -> list[tuple[str, str]]:
    """(where, top-level package imported) for every import in every .py file under package/;
    where is path:line. A relative import stays inside its package and is left out."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found.extend((where, name) for name in names)
    return found


def _forbidden(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{where} imports {name}"
        for where, name in _imports(package)
        if name.split(".")[0] in forbidden
    ]


def test_every_checked_package_has_python_files():
    for package in PACKAGES:
        assert list((ROOT / package).rglob("*.py")), f"{package}/ has no .py file to check"


def test_stream_imports_none_of_serve_cli_lab_train_or_grpc():
    assert _forbidden("stream", {"serve", "cli", "lab", "train", "grpc"}) == []


def test_serve_imports_none_of_cli_lab_or_train():
    assert _forbidden("serve", {"cli", "lab", "train"}) == []


def test_lab_imports_neither_cli_nor_train():
    assert _forbidden("lab", {"cli", "train"}) == []


def test_train_imports_none_of_serve_cli_or_lab():
    assert _forbidden("train", {"serve", "cli", "lab"}) == []


def test_serve_uses_only_the_engines_public_face():
    """stream's public face: the package's own names (stream/__init__.py, StreamEngine) and the
    media helpers; the runtime, model, lab and configs stay behind it."""
    inside = [
        f"{where} imports {name}"
        for where, name in _imports("serve")
        if name.startswith("stream.") and not name.startswith("stream.media")
    ]
    assert inside == []
