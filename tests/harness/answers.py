"""What the checks' tests share: the notebooks' own answer cells."""

from __future__ import annotations

from nbsource import code_cells


def solution(prefix: str, name: str) -> str:
    """Notebook ``prefix``'s own answer cell for the exercise that sets ``name``: the cell with
    a solution block that names ``name`` before it (the placeholder ``name = None``)."""
    (cell,) = [
        c
        for c in code_cells(prefix)
        if "# BEGIN SOLUTION" in c and name in c.split("# BEGIN SOLUTION")[0]
    ]
    return cell
