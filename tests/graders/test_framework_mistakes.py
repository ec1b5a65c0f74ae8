"""Known mistakes match the reference's code only: comments and docstrings neither break nor satisfy them;
checks made by the shared factories are named after the check_* global they are assigned to."""

import pytest

from tutor.grading.framework import GraderError, Mistake, Suite, code_only

REF = '''"""A module docstring that mentions x + 1."""


def f(x):
    """f's docstring: return x + 1."""
    # add one: x + 1
    return x + 1  # the answer
'''


def test_a_reworded_comment_does_not_break_a_mistake():
    m = Mistake("off-by-two", "…", None, (("return x + 1  # the answer", "return x + 2  # the answer"),))
    reworded = REF.replace("# the answer", "# one more than x")
    assert "return x + 2" in m.apply(reworded)
    ns = {}
    exec(compile(m.apply(reworded), "<m>", "exec"), ns)
    assert ns["f"](1) == 3


def test_text_found_only_in_a_comment_or_docstring_fails_naming_the_mistake():
    for old in ("# add one", "f's docstring", "add one: x"):
        m = Mistake("ghost", "…", None, ((old, "nothing"),))
        with pytest.raises(GraderError, match="ghost"):
            m.apply(REF)


def test_code_only_keeps_line_numbers_and_code():
    out = code_only(REF)
    assert out.count("\n") == REF.count("\n")
    assert "return x + 1\n" in out and "#" not in out and "docstring" not in out
    compile(out, "<code>", "exec")


def test_factory_checks_take_their_global_name():
    import tutor.checks.check_transformer_block as tb

    assert tb.suite.specs["check_gradients"].title == "Gradients reach every parameter"
    assert tb.check_gradients.__name__ == "check_gradients"


def test_a_factory_check_not_assigned_to_a_name_is_a_grader_error():
    suite = Suite("nothing")
    suite.factory_check(lambda learner: None, "orphan")
    with pytest.raises(GraderError, match="orphan"):
        suite.specs
