"""tic-tac-toe's ceiling: no policy wins more than 84.9 % against the page's opponent, and the
expert's moves reach it.

The opponent below is tic-tac-toe.html's ``computerMove`` move for move: 55 % a random free
square (always, on an empty board), else ``determineSpace`` — the last match, in the page's
order of checks, of a square that completes O's line, else of one that blocks X's — else a
random square. The page moves first on ``core.randi(0,100) > 50``, 49 times in 100. A draw is
a failure (reward -0.5).
"""

from __future__ import annotations

import functools

import pytest

from halo_plugin_miniwob.experts import _after_o, _winner

X, O = "x", "o"


def _rows(g, m, col):  # checkLeftHorizontal (col 0), checkMiddleHorizontal (1), checkRightHorizontal (2)
    others = [c for c in range(3) if c != col]
    for i in range(3):
        if g[i * 3 + col] == "" and all(g[i * 3 + c] == m for c in others):
            return i * 3 + col
    return None


def _column(g, m, c):  # checkLeftVertical (c 0), checkMiddleVertical (1), checkRightVertical (2)
    for free, a, b in ((c, c + 3, c + 6), (c + 3, c, c + 6), (c + 6, c, c + 3)):
        if g[free] == "" and g[a] == m and g[b] == m:
            return free
    return None


def _diagonal(g, m):  # checkDiagonal
    for free, a, b in ((0, 4, 8), (4, 0, 8), (8, 0, 4), (2, 4, 6), (4, 2, 6), (6, 2, 4)):
        if g[free] == "" and g[a] == m and g[b] == m:
            return free
    return None


def _determine_space(g):
    def last(m):
        found = [_rows(g, m, 0), _rows(g, m, 1), _rows(g, m, 2), _diagonal(g, m),
                 _column(g, m, 0), _column(g, m, 1), _column(g, m, 2)]
        found = [f for f in found if f is not None]
        return found[-1] if found else None

    win = last(O)
    return win if win is not None else last(X)


def _opponent(g):
    """(probability, square) of the page's next O."""
    free = [i for i, m in enumerate(g) if not m]
    if len(free) == 9:
        return [(1 / 9, i) for i in free]
    smart = _determine_space(g)
    moves = [(0.55 / len(free), i) for i in free]
    if smart is None:
        return moves + [(0.45 / len(free), i) for i in free]
    return moves + [(0.45, smart)]


def _put(g, i, m):
    return g[:i] + (m,) + g[i + 1:]


def _values(choose):
    """X's chance of winning, X to move and O to move, when X plays ``choose(board) -> square``
    (None: the best square)."""

    @functools.lru_cache(maxsize=None)
    def x_to_move(g):
        free = [i for i, m in enumerate(g) if not m]
        if not free:
            return 0.0
        after = {i: (1.0 if _winner(_put(g, i, X)) == X else o_to_move(_put(g, i, X))) for i in free}
        return max(after.values()) if choose is None else after[choose(g)]

    @functools.lru_cache(maxsize=None)
    def o_to_move(g):
        if all(g):
            return 0.0
        return sum(p * (0.0 if _winner(_put(g, i, O)) == O else x_to_move(_put(g, i, O))) for p, i in _opponent(g))

    return x_to_move, o_to_move


def _expert_square(g):
    """The square the expert clicks (its own choice rule, on the board alone)."""
    free = [i for i, m in enumerate(g) if not m]
    return max(free, key=lambda i: 1.0 if _winner(_put(g, i, X)) == X else _after_o(_put(g, i, X)))


def test_no_policy_wins_more_than_849_in_1000_and_the_expert_reaches_that():
    empty = ("",) * 9
    best_x, best_o = _values(None)
    ceiling = 0.51 * best_x(empty) + 0.49 * best_o(empty)
    assert ceiling == pytest.approx(0.849, abs=0.0005)
    expert_x, expert_o = _values(_expert_square)
    assert 0.51 * expert_x(empty) + 0.49 * expert_o(empty) == pytest.approx(ceiling, abs=1e-12)
