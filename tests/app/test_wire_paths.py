"""Wire paths: a forward wire is one S-curve; a wire back to a block further left (the end of a wrapped
row to the start of the next) turns out of its port, runs level between the ports' rows (or below
both on one row) and turns into its input from the left, never cutting across the blocks."""
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QPointF

from layerloom.app.canvas.wire_item import BACK_DIP, bezier

coord = st.floats(-3000, 3000, allow_nan=False, allow_infinity=False)


def _points(path, n=400):
    return [path.pointAtPercent(i / n) for i in range(n + 1)]


@given(coord, coord, coord, coord)
@settings(max_examples=200, deadline=None, derandomize=True)
def test_every_wire_starts_at_its_output_and_ends_at_its_input(ax, ay, bx, by):
    path = bezier(QPointF(ax, ay), QPointF(bx, by))
    start, end = path.pointAtPercent(0), path.pointAtPercent(1)
    assert abs(start.x() - ax) < 1e-6 and abs(start.y() - ay) < 1e-6
    assert abs(end.x() - bx) < 1e-6 and abs(end.y() - by) < 1e-6


@given(coord, coord, st.floats(21, 3000), st.floats(-1500, 1500))
@settings(max_examples=200, deadline=None, derandomize=True)
def test_a_wire_back_leaves_rightwards_runs_level_and_enters_from_the_left(ax, ay, back, dy):
    a, b = QPointF(ax, ay), QPointF(ax - back, ay + dy)
    path = bezier(a, b)
    pts = _points(path)
    assert pts[1].x() > a.x() and pts[-2].x() < b.x()        # out of the port rightwards, into it from the left
    apart = abs(dy) >= 2 * BACK_DIP / 3
    level = (a.y() + b.y()) / 2 if apart else max(a.y(), b.y()) + BACK_DIP
    # between the two turns, the wire runs level at `level` over the whole way back
    run = [p for p in pts if b.x() + 1e-6 < p.x() < a.x() - 1e-6]
    assert run and all(abs(p.y() - level) < 1e-6 for p in run)
    # and the turns stay beside their ports: no point lies left of the input or right of the turn out
    out = max(16.0, abs(level - a.y()) * 2 / 3)
    assert all(b.x() - out - 1e-6 <= p.x() <= a.x() + out + 1e-6 for p in pts)
    # the shape label sits on the level run, halfway along the wire
    mid = path.pointAtPercent(0.5)
    assert abs(mid.y() - level) < 1e-6 or not (b.x() < mid.x() < a.x())


@given(coord, coord, st.floats(100, 3000), st.floats(-1500, 1500))
@settings(max_examples=100, deadline=None, derandomize=True)
def test_a_forward_wire_is_one_s_curve_that_never_doubles_back(ax, ay, dx, dy):
    """(Closer than 100 px the curve's 50 px handles overshoot a little, as node editors' wires do.)"""
    a, b = QPointF(ax, ay), QPointF(ax + dx, ay + dy)
    pts = _points(bezier(a, b))
    assert all(q.x() >= p.x() - 1e-6 for p, q in zip(pts, pts[1:]))
