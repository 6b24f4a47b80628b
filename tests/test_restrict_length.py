"""``regexops.restrict_length``: the length restriction of a code-point regex, its memo of
results and refusals by node identity, and the memoised length bounds it peels with."""

from __future__ import annotations

import itertools
import random

import pytest
from restrict_reference import OldRestrictor

from decoder.grammar.json_schema import regexops as R
from decoder.grammar.json_schema.automata import RegexBudgetError
from decoder.grammar.regex import parse_regex

PATTERNS = ["^(?:ab+)*c?$", "^(?:\\S+\\s+){0,3}\\S+$", "^[a-c]{2,4}(?:x|yz)*$", "^a*b*$"]


def _words(alphabet: str, longest: int):
    for n in range(longest + 1):
        for t in itertools.product(alphabet, repeat=n):
            yield "".join(t)


@pytest.mark.parametrize("pattern", PATTERNS)
@pytest.mark.parametrize("lo,hi", [(0, 3), (2, 5), (4, None), (1, 1)])
def test_restriction_is_exact_and_repeats_equal(pattern, lo, hi):
    node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
    first = R.restrict_length(node, lo, hi)
    again = R.restrict_length(node, lo, hi)  # from the memo
    assert again == first == R._LengthRestrictor(4000).run(node, lo, hi)
    for w in _words("abc y" if "S" not in pattern else "a b", 5):
        inside = len(w) >= lo and (hi is None or len(w) <= hi)
        assert R.matches(first, w) == (R.matches(node, w) and inside), w


def test_refusal_is_remembered_and_raised_again():
    node = parse_regex("^(?:\\S+\\s+){0,19}\\S+$", syntax="ecma", search=True, portable=True)
    with pytest.raises(RegexBudgetError) as e1:
        R.restrict_length(node, 1, 200)
    assert (id(node), 1, 200, 4000) in R._RESTRICTED
    with pytest.raises(RegexBudgetError) as e2:
        R.restrict_length(node, 1, 200)
    assert str(e1.value) == str(e2.value) == "length restriction of this regex is too large"
    # a larger budget is another entry, computed afresh
    assert R.restrict_length(node, 1, 3, budget=100000) == R._LengthRestrictor(100000).run(
        node, 1, 3
    )


@pytest.mark.parametrize("pattern", PATTERNS + ["^(?:a{2,3}|bc*){1,4}$", "^x?(?:yy)+$"])
def test_memoised_bounds_equal_length_bounds(pattern):
    node = parse_regex(pattern, syntax="ecma", search=False)
    r = R._LengthRestrictor(10)
    stack = [node]
    while stack:
        n = stack.pop()
        assert r.bounds(n) == R.length_bounds(n)
        if n[0] in ("cat", "alt"):
            stack.extend(n[1])
        elif n[0] == "rep":
            stack.append(n[1])


def test_memo_is_bounded_by_the_steps_of_what_it_holds(monkeypatch):
    monkeypatch.setattr(R, "_RESTRICTED", R.OrderedDict())
    monkeypatch.setattr(R, "_restricted_steps", 0)
    monkeypatch.setattr(R, "_RESTRICTED_MAX_STEPS", 100)
    node = parse_regex("^(?:ab+)*c?$", syntax="ecma", search=True, portable=True)
    for hi in range(3, 7):  # 22, 37, 60 and 97 steps
        R.restrict_length(node, 0, hi)
        assert 0 < R._restricted_steps <= 100
        assert R._restricted_steps == sum(e[3] for e in R._RESTRICTED.values())
    assert list(R._RESTRICTED) == [(id(node), 0, 6, 4000)]  # the oldest went first
    big = R.restrict_length(node, 0, 8)  # 251 steps: returned, not kept
    assert big == R._LengthRestrictor(4000).run(node, 0, 8)
    assert R._restricted_steps == 0 and not R._RESTRICTED
    assert R.restrict_length(node, 0, 3) == R._LengthRestrictor(4000).run(node, 0, 3)


DRY_CASES = [
    ("^(?:\\S+\\s+){0,19}\\S+$", 1, 200),  # o21137's word count: over the budget
    ("^(?:\\S+\\s+){0,9}\\S+$", 0, 100),
    ("[a-zA-Z0-9_.-]+", 3, 255),  # o45482: fits, 1,021 steps
    ("^\\S+@\\S+$", 5, 255),
    ("^(a|bc)*d?$", 3, 30),
    ("^(?:ab+)*c?$", 2, 9),
    ("^[a-z]+$", 0, 40),
    ("^(?:x|yz)*$", 4, None),
]


@pytest.mark.parametrize("pattern, lo, hi", DRY_CASES)
@pytest.mark.parametrize("budget", [300, 4000])
def test_a_dry_walk_spends_what_the_restriction_spends(pattern, lo, hi, budget):
    """The dry walk (no result built) meets the same memo entries and spends the same steps
    as the restriction, so it refuses exactly the restrictions that would be refused (where
    they are, it spends ahead and stops sooner: section 55)."""
    node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
    got = []
    for dry in (False, True):
        r = R._LengthRestrictor(budget, dry=dry)
        try:
            r.run(node, lo, hi)
            got.append(("fits", budget - r.budget))
        except RegexBudgetError:
            got.append(("refused", None))  # the dry walk spends ahead: it stops sooner
    assert got[0] == got[1]


@pytest.mark.parametrize("pattern, lo, hi", DRY_CASES)
def test_restrict_length_after_its_dry_walk_is_the_restriction(pattern, lo, hi):
    node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
    R._RESTRICTED.clear()
    try:
        want = R._LengthRestrictor(4000).run(node, lo, hi)
    except RegexBudgetError:
        with pytest.raises(RegexBudgetError):
            R.restrict_length(node, lo, hi)
        return
    assert R.restrict_length(node, lo, hi) == want


def test_a_refusal_builds_no_result(monkeypatch):
    """Over the budget (a word-count pattern with maxLength 200, refused after 4,000 steps,
    ~11 ms, then counted by the engine) nothing of the result is built: the dry walk refuses
    it before the restriction runs (before, thousands of alternations were built and
    dropped)."""
    built = [0]
    real_alt = R.alt

    def counting_alt(*nodes):
        built[0] += 1
        return real_alt(*nodes)

    monkeypatch.setattr(R, "alt", counting_alt)
    R._RESTRICTED.clear()
    node = parse_regex("^(?:\\S+\\s+){0,19}\\S+$", syntax="ecma", search=True, portable=True)
    with pytest.raises(RegexBudgetError):
        R.restrict_length(node, 1, 213)
    assert built[0] == 0
    # one that fits is built once, after its dry walk
    R.restrict_length(node, 1, 7)
    assert built[0] > 0


# --- section 55: steps spent ahead, dry loops in another order: the same refusals ------------


def _reference(node, lo, hi, budget):
    """The restriction before section 55: ("refused", None) or ("fits", result, steps)."""
    r = OldRestrictor(budget)
    try:
        out = r.run(node, lo, hi)
    except RegexBudgetError:
        return ("refused",)
    return ("fits", out, budget - r.budget)


def _dry(node, lo, hi, budget):
    r = R._LengthRestrictor(budget, dry=True)
    try:
        r.run(node, lo, hi)
    except RegexBudgetError:
        return ("refused",)
    return ("fits", budget - r.budget)


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    atoms = ["a", "b", "[ab]", "\\S", "\\s", "ab", "x"]
    if depth > 2 or rng.random() < 0.3:
        s = rng.choice(atoms)
    elif rng.random() < 0.3:
        s = (
            "(?:"
            + "|".join(_random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3)))
            + ")"
        )
    else:
        s = "(?:" + "".join(_random_pattern(rng, depth + 1) for _ in range(rng.randint(2, 3))) + ")"
    q = rng.random()
    if q < 0.2:
        s += "+"
    elif q < 0.35:
        s += "*"
    elif q < 0.45:
        s += "?"
    elif q < 0.6:
        m = rng.randint(0, 3)
        s += "{%d,%d}" % (m, m + rng.randint(0, 6))
    return s


def _cases(count: int, seed: int):
    rng = random.Random(seed)
    fixed = [(p, lo, hi) for p, lo, hi in DRY_CASES]
    fixed += [("^(?:\\S+\\s+){0,9}\\S+$", 0, 100), ("^(?:\\S+\\s+){0,49}\\S+$", 1, 500)]
    yield from fixed
    for _ in range(count):
        pattern = "^" + "".join(_random_pattern(rng) for _ in range(rng.randint(1, 3))) + "$"
        lo = rng.choice([0, 0, 1, 2, 5])
        hi = rng.choice([None, 3, 8, 15, 30, 60, 120])
        yield pattern, lo, hi


def _check(pattern, lo, hi):
    node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
    ref = _reference(node, lo, hi, 20000)
    budgets = [1, 5, 40, 300, 4000]
    if ref[0] == "fits":  # the exact total, and one under it: the boundary of a refusal
        budgets += [ref[2], ref[2] - 1, ref[2] + 1]
    for budget in budgets:
        want = _reference(node, lo, hi, budget)
        got = _dry(node, lo, hi, budget)
        assert got[0] == want[0], (pattern, lo, hi, budget)
        if want[0] == "fits":
            assert got[1] == want[2], (pattern, lo, hi, budget)  # the same steps in all
    for budget in (300, 4000):
        R._RESTRICTED.clear()
        want = _reference(node, lo, hi, budget)
        if want[0] == "refused":
            with pytest.raises(RegexBudgetError):
                R.restrict_length(node, lo, hi, budget)
        else:
            assert R.restrict_length(node, lo, hi, budget) == want[1]
    return ref[0]


def test_refusals_and_results_equal_the_walk_before_section_55():
    """The dry walk spends the steps of a loop on entering it, spends ahead those of the calls
    on a concatenation it peeled, and visits the longest parts first: the same keys and steps
    in all, so a restriction is refused (any budget, at its exact total and one under) and
    built exactly as by the walk before (tests/restrict_reference.py), random patterns too."""
    seen = {"fits": 0, "refused": 0}
    for pattern, lo, hi in _cases(150, 55):
        seen[_check(pattern, lo, hi)] += 1
    assert seen["fits"] > 60 and seen["refused"] > 30, seen


def test_word_counts_are_refused_after_a_fraction_of_the_calls():
    """o21137's word counts: refused (as before) after under a fifth of the walk's calls (the
    walk before section 55: 1,643 memo entries each)."""
    for pattern, lo, hi in [
        ("^(?:\\S+\\s+){0,19}\\S+$", 1, 200),
        ("^(?:\\S+\\s+){0,9}\\S+$", 0, 100),
        ("^(?:\\S+\\s+){0,49}\\S+$", 1, 500),
    ]:
        node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
        old = OldRestrictor(4000)
        with pytest.raises(RegexBudgetError):
            old.run(node, lo, hi)
        new = R._LengthRestrictor(4000, dry=True)
        with pytest.raises(RegexBudgetError):
            new.run(node, lo, hi)
        assert len(new.memo) * 5 < len(old.memo), (pattern, len(new.memo), len(old.memo))


def test_a_dry_walk_too_deep_leaves_the_decision_to_the_building_walk(monkeypatch):
    """The dry walk's order may nest deeper than the building walk's: a RecursionError in it
    is not an answer, the building walk (the order before section 55) decides."""

    def too_deep(self, *args):
        raise RecursionError

    monkeypatch.setattr(R._LengthRestrictor, "_credit_rests", too_deep)
    for pattern, lo, hi in DRY_CASES:
        node = parse_regex(pattern, syntax="ecma", search=True, portable=True)
        R._RESTRICTED.clear()
        want = _reference(node, lo, hi, 4000)
        if want[0] == "refused":
            with pytest.raises(RegexBudgetError):
                R.restrict_length(node, lo, hi)
        else:
            assert R.restrict_length(node, lo, hi) == want[1]
