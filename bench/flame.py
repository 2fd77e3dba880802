"""A minimal flame graph (SVG) from collapsed stacks, so one py-spy recording gives both the picture and
the numbers (py-spy writes one format per recording)."""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

WIDTH = 1400.0
ROW = 17
CHAR = 6.6  # approximate width of one character at font-size 11


@dataclass
class Node:
    name: str
    count: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def build_tree(stacks: Counter[tuple[str, ...]]) -> Node:
    root = Node("all")
    for stack, n in stacks.items():
        root.count += n
        node = root
        for frame in stack:
            node = node.children.setdefault(frame, Node(frame))
            node.count += n
    return root


def _depth(node: Node) -> int:
    return 1 + max((_depth(c) for c in node.children.values()), default=0)


def _color(name: str) -> str:
    if "alertnet/" in name:
        return "rgb(240,150,40)"
    hue = zlib.crc32(name.split("(")[-1].split("/")[0].encode()) % 60
    return f"rgb({200 + hue // 2},{80 + hue},{60})"


def _rects(node: Node, x: float, level: int, scale: float, height: int, total: int, out: list[str]) -> None:
    width = node.count * scale
    if width < 0.5:
        return
    y = height - (level + 1) * ROW
    label = node.name if width > len(node.name) * CHAR else node.name[: max(0, int(width / CHAR) - 2)] + ".."
    tip = f"{node.name} ({node.count} samples, {100 * node.count / total:.1f}%)"
    out.append(
        f'<g><title>{escape(tip)}</title><rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{ROW - 1}" '
        f'fill="{_color(node.name)}"/>'
        + (f'<text x="{x + 3:.1f}" y="{y + 12}">{escape(label)}</text>' if width > 3 * CHAR else "")
        + "</g>"
    )
    for child in sorted(node.children.values(), key=lambda c: c.name):
        _rects(child, x, level + 1, scale, height, total, out)
        x += child.count * scale


def write_flamegraph(stacks: Counter[tuple[str, ...]], path: Path, *, title: str) -> None:
    """Write an SVG flame graph (root at the bottom, hover a frame for its share of samples)."""
    root = build_tree(stacks)
    total = max(1, root.count)
    height = (_depth(root) + 2) * ROW
    out: list[str] = []
    _rects(root, 0.0, 0, WIDTH / total, height, total, out)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height}" '
        'font-family="monospace" font-size="11">'
        f'<rect width="100%" height="100%" fill="#fdfdf6"/>'
        f'<text x="4" y="13" font-size="13">{escape(title)}: {root.count} samples</text>'
        + "".join(out)
        + "</svg>\n"
    )
