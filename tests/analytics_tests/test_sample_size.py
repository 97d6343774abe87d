# ruff: noqa: E501  (R's output is pasted verbatim beside the assertions; its lines are long)
"""analytics.stats.sample_size (Walter, Eliasziw & Donner 1998) against base-R evaluations (R 4.2.2).

Reference session: tests/reference/sample_size_reference.R -> sample_size_reference.txt. No R package
implements Walter et al.'s formula, so the R script evaluates the published closed form and the exact F-test
power (Donner & Eliasziw 1987) independently; tolerance 1e-9 relative. A published worked example could not
be checked offline; the classic rho1 = 0.8 vs rho0 = 0.6, k = 2, alpha = 0.05 (one-sided), power 0.8 design
gives 39 subjects by both routes.
"""

from __future__ import annotations

import pytest

from analytics.stats import icc_power, icc_sample_size

TOL = {"rel": 1e-9, "abs": 1e-12}

# rho1, rho0, k, approx n (unrounded), power at ceiling, exact n, exact power   (sample_size_reference.txt)
CASES = [
    # rho1 = 0.8 rho0 = 0.6 k = 2: approx n = 38.60634886394 (ceiling 39); power at ceiling = 0.800914059643137; exact n = 39; exact power = 0.800914059643137
    (0.8, 0.6, 2, 38.60634886394, 0.800914059643137, 39, 0.800914059643137),
    # rho1 = 0.8 rho0 = 0.6 k = 3: approx n = 26.0662430291115 (ceiling 27); power at ceiling = 0.817947150080792; exact n = 26; exact power = 0.805271696210103
    (0.8, 0.6, 3, 26.0662430291115, 0.817947150080792, 26, 0.805271696210103),
    # rho1 = 0.9 rho0 = 0.7 k = 3: approx n = 12.8182068116466 (ceiling 13); power at ceiling = 0.811259549074117; exact n = 13; exact power = 0.811259549074117
    (0.9, 0.7, 3, 12.8182068116466, 0.811259549074117, 13, 0.811259549074117),
    # rho1 = 0.7 rho0 = 0.5 k = 2: approx n = 62.1405367200603 (ceiling 63); power at ceiling = 0.803136794861575; exact n = 63; exact power = 0.803136794861575
    (0.7, 0.5, 2, 62.1405367200603, 0.803136794861575, 63, 0.803136794861575),
    # rho1 = 0.94 rho0 = 0.75 k = 3: approx n = 8.53800054355305 (ceiling 9); power at ceiling = 0.823986923239222; exact n = 9; exact power = 0.823986923239222
    (0.94, 0.75, 3, 8.53800054355305, 0.823986923239222, 9, 0.823986923239222),
    # rho1 = 0.75 rho0 = 0.5 k = 4: approx n = 19.0578104866648 (ceiling 20); power at ceiling = 0.825417557647978; exact n = 19; exact power = 0.808694961762086
    (0.75, 0.5, 4, 19.0578104866648, 0.825417557647978, 19, 0.808694961762086),
    # rho1 = 0.6 rho0 = 0.4 k = 2: approx n = 86.1248275882863 (ceiling 87); power at ceiling = 0.802300884597623; exact n = 87; exact power = 0.802300884597623
    (0.6, 0.4, 2, 86.1248275882863, 0.802300884597623, 87, 0.802300884597623),
    # rho1 = 0.5 rho0 = 0 k = 2: approx n = 21.4898713458681 (ceiling 22); power at ceiling = 0.803865858522845; exact n = 22; exact power = 0.803865858522845
    (0.5, 0.0, 2, 21.4898713458681, 0.803865858522845, 22, 0.803865858522845),
]


@pytest.mark.parametrize(("rho1", "rho0", "k", "n_approx", "power_at_ceiling", "n_exact", "power_exact"), CASES)
def test_against_r(rho1, rho0, k, n_approx, power_at_ceiling, n_exact, power_exact):
    approx = icc_sample_size(rho1, rho0, k)
    assert approx.n_approx == pytest.approx(n_approx, **TOL)
    assert approx.n == int(-(-n_approx // 1))
    assert approx.power == pytest.approx(power_at_ceiling, **TOL)
    exact = icc_sample_size(rho1, rho0, k, method="exact")
    assert exact.n == n_exact
    assert exact.power == pytest.approx(power_exact, **TOL)
    assert icc_power(n_exact - 1, rho1, rho0, k) < 0.8 <= icc_power(n_exact, rho1, rho0, k)


def test_other_alpha_and_power():
    # alpha = 0.01, power = 0.9, rho1 = 0.8, rho0 = 0.6, k = 2: approx n = 80.1775161907129  exact n = 81
    r = icc_sample_size(0.8, 0.6, 2, alpha=0.01, power=0.9)
    assert r.n_approx == pytest.approx(80.1775161907129, **TOL)
    assert r.n == 81
    assert icc_sample_size(0.8, 0.6, 2, alpha=0.01, power=0.9, method="exact").n == 81


def test_power_increases_with_subjects():
    powers = [icc_power(n, 0.8, 0.6, 3) for n in range(5, 60, 5)]
    assert powers == sorted(powers)


def test_large_exact_search_is_fast():
    assert icc_sample_size(0.52, 0.5, 2, method="exact").n > 5_000


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0.6, 0.8, 2), {}, "must be larger than the null value"),
        ((0.8, 0.6, 1), {}, "at least twice"),
        ((1.2, 0.6, 2), {}, "between 0 and 1"),
        ((0.8, 0.6, 2), {"alpha": 0}, "alpha must be between 0 and 1"),
        ((0.8, 0.6, 2), {"power": 1.5}, "power must be between 0 and 1"),
        ((0.8, 0.6, 2), {"method": "simulate"}, "method must be"),
    ],
)
def test_bad_input(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        icc_sample_size(*args, **kwargs)
