"""The version tree as a structure, as text (`editlab session log`) and as a grid layout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from editlab.session.version import Version


@dataclass
class VersionNode:
    """A version with its children (oldest first)."""

    version: Version
    children: list[VersionNode] = field(default_factory=list)

    def walk(self):
        """Depth-first, parents before children (iterative: histories can be thousands deep)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def children_map(versions: Mapping[str, Version]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {vid: [] for vid in versions}
    for version in versions.values():  # insertion order = creation order
        if version.parent is not None:
            children[version.parent].append(version.id)
    return children


def build_tree(versions: Mapping[str, Version], root: str) -> VersionNode:
    children = children_map(versions)
    nodes = {vid: VersionNode(version) for vid, version in versions.items()}
    for vid, kids in children.items():
        nodes[vid].children = [nodes[kid] for kid in kids]
    return nodes[root]


def format_tree(versions: Mapping[str, Version], root: str, head: str, *, width: int = 100) -> str:
    """Text view of the tree; a linear run of turns stays in one column, branches indent.

        v0  (original)  64x64
        v1  make it red  seed=12
        ├─ v2  add a cat  seed=7
        │  v3  make the cat bigger  seed=9   <- HEAD
        └─ v4  add a dog  seed=3
    """
    children = children_map(versions)
    lines: list[str] = []
    stack: list[tuple[str, str, str]] = [(root, "", "")]  # (id, prefix of its line, prefix below it)
    while stack:
        vid, first, rest = stack.pop()
        line = _clip(first + _describe(versions[vid]), width - (10 if vid == head else 0))
        lines.append(line + "   <- HEAD" if vid == head else line)
        kids = children[vid]
        if len(kids) == 1:
            stack.append((kids[0], rest, rest))
            continue
        for position, kid in reversed(list(enumerate(kids))):
            last = position == len(kids) - 1
            stack.append((kid, rest + ("└─ " if last else "├─ "), rest + ("   " if last else "│  ")))
    return "\n".join(lines)


def _describe(version: Version) -> str:
    parts = [version.id, version.label]
    if version.is_root:
        parts.append(f"{version.size[0]}x{version.size[1]}")
    else:
        parts.append(f"seed={version.seed}")
        if version.mask:
            parts.append("masked")
    return "  ".join(parts)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def tree_layout(versions: Mapping[str, Version], root: str) -> dict[str, tuple[int, int]]:
    """Grid positions (column = depth, row) so each branch gets its own row.

    A first child stays on its parent's row; later children open new rows below everything
    drawn so far, so no two branches overlap.
    """
    children = children_map(versions)
    positions: dict[str, tuple[int, int]] = {}
    next_row = 0
    stack: list[tuple[str, int, int | None]] = [(root, 0, None)]
    while stack:
        vid, depth, row = stack.pop()
        if row is None:
            row, next_row = next_row, next_row + 1
        positions[vid] = (depth, row)
        kids = children[vid]
        # push later siblings first so the first child (same row) is laid out first
        for position, kid in reversed(list(enumerate(kids))):
            stack.append((kid, depth + 1, row if position == 0 else None))
    return positions
