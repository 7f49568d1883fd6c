#!/usr/bin/python3
"""winograd_matrices.py: derives and checks the transforms in src/kernels/winograd.c.

For F(m, r) (m outputs of an r-tap correlation from m + r - 1 inputs) and the interpolation
points given, builds the Toom-Cook matrices as Lavin and Gray do: A^T[i][j] = p_j^i,
G[j][k] = p_j^k / prod_{l != j} (p_j - p_l), the point at infinity as the last row/column, and
solves for the B^T that makes  y = A^T [(G g) * (B^T d)]  the correlation exactly (rational
arithmetic). Then checks the 2-D form  Y = A^T [(G g G^T) * (B^T d B)] A  on random data.
Prints the three matrices of F(4, 3) and F(4, 5), whose products winograd.c spells out.

    /usr/bin/python3 scripts/winograd_matrices.py      (needs python3-sympy, python3-numpy)
"""
import numpy as np
import sympy as sp


def cook_toom(m, r, points):
    alpha = m + r - 1
    pts = [sp.Rational(p) for p in points]
    assert len(pts) == alpha - 1, "one point fewer than the tile's inputs (infinity is the last)"
    f = [sp.prod([pj - pl for pl in pts if pl != pj]) for pj in pts]
    at, g = sp.zeros(m, alpha), sp.zeros(alpha, r)
    for j, p in enumerate(pts):
        for i in range(m):
            at[i, j] = p**i
        for k in range(r):
            g[j, k] = p**k / f[j]
    at[m - 1, alpha - 1] = 1
    g[alpha - 1, r - 1] = 1
    bt = sp.Matrix(alpha, alpha, lambda a, b: sp.Symbol(f"b{a}_{b}"))
    equations = [sum(at[i, j] * g[j, k] * bt[j, l] for j in range(alpha)) - (1 if l == i + k else 0)
                 for i in range(m) for k in range(r) for l in range(alpha)]
    solutions = sp.solve(equations, list(bt), dict=True)
    assert len(solutions) == 1, "no unique B^T"
    bt = bt.subs(solutions[0])
    assert all(x.is_number for x in bt), "B^T underdetermined"
    return at, g, bt


def check_2d(at, g, bt, m, r):
    a, gn, b = (np.array(x, dtype=np.float64) for x in (at, g, bt))
    rng = np.random.default_rng(0)
    filt, d = rng.standard_normal((r, r)), rng.standard_normal((m + r - 1, m + r - 1))
    y = a @ ((gn @ filt @ gn.T) * (b @ d @ b.T)) @ a.T
    direct = np.array([[np.sum(filt * d[i:i + r, j:j + r]) for j in range(m)] for i in range(m)])
    return np.abs(y - direct).max()


if __name__ == "__main__":
    half = sp.Rational(1, 2)
    for m, r, points in [(4, 3, [0, 1, -1, 2, -2]), (4, 5, [0, 1, -1, 2, -2, half, -half])]:
        at, g, bt = cook_toom(m, r, points)
        err = check_2d(at, g, bt, m, r)
        print(f"F({m}x{m}, {r}x{r}): 2-D max error against direct correlation {err:.1e}")
        assert err < 1e-10
        for name, mat in (("A^T", at), ("G", g), ("B^T", bt)):
            print(f"{name} =")
            sp.pprint(mat)
