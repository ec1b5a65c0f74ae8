"""The assembly check: do the learner's modules work together as one GPT?

Builds the reference `GPTModel` and the learner's (from the learner's own modules), gives the learner's
the reference's parameters through their names, runs both on the same tokens and compares every
sub-module's output in the order they run; a mismatch names the first module that differs and the
exercise file it comes from. `check_assembly` runs it in a grading child; `run_assembly` is the
in-process body (the child calls it, and so can a run that has already imported torch).
"""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path

from tutor.grading.results import CheckResult, ExerciseResult

ASSEMBLY_ID = "assembled"
TINY_CFG = {"vocab_size": 97, "context_length": 12, "emb_dim": 16, "n_heads": 2, "n_layers": 2,
            "drop_rate": 0.1, "qkv_bias": True}


def _record(model):
    """Register hooks that record each sub-module's output, in the order modules run."""
    import torch

    outputs: list[tuple[str, object]] = []
    handles = []
    for name, module in model.named_modules():
        if not name or name.endswith(("drop_emb", "drop_shortcut", "dropout")):
            continue

        def hook(mod, args, out, name=name):
            if torch.is_tensor(out):
                outputs.append((name, out.detach().clone()))

        handles.append(module.register_forward_hook(hook))
    return outputs, handles


def _exercise_of(module_obj) -> str:
    mod = type(module_obj).__module__
    return mod.split(".", 1)[1] if mod.startswith("exercises.") else mod


def run_assembly(learner_mapping: dict[str, Path]) -> ExerciseResult:
    """Compare the model assembled from `learner_mapping` with the reference one; never raises."""
    start = time.perf_counter()
    result = ExerciseResult(ASSEMBLY_ID, "error")

    def done(status: str, message: str = "", checks=None) -> ExerciseResult:
        result.status, result.message = status, message
        result.checks = checks or []
        result.duration_s = time.perf_counter() - start
        return result

    import torch

    from tutor.exercise_imports import install_exercises_mapping, reference_mapping
    from tutor.grading.framework import CheckFailed, compare_values, copy_params

    try:
        install_exercises_mapping(reference_mapping())
        import exercises.gpt_model as ref_gpt  # noqa: F811

        torch.manual_seed(0)
        ref = ref_gpt.GPTModel(TINY_CFG).eval()
        idx = torch.randint(0, TINY_CFG["vocab_size"], (2, 9))
        ref_outs, _ = _record(ref)
        with torch.no_grad():
            ref_logits = ref(idx).clone()
    except Exception:
        return done("error", "Grader error (a bug in tutor):\n" + traceback.format_exc(limit=4))

    install_exercises_mapping(learner_mapping)
    try:
        import exercises.gpt_model as my_gpt  # the learner's, importing the learner's other modules

        mine = my_gpt.GPTModel(TINY_CFG)
        copy_params(ref, mine)
        mine.eval()
        my_outs, _ = _record(mine)
        with torch.no_grad():
            my_logits = mine(idx)
    except CheckFailed as e:
        return done("failed", checks=[CheckResult("Your GPTModel takes the reference's weights", False, e.message)])
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = next((f"exercises/{Path(f.filename).name} line {f.lineno} (in {f.name})" for f in reversed(tb)
                      if "exercises" in Path(f.filename).parts),
                     "")
        if isinstance(e, NotImplementedError):
            return done("failed", f"{where or 'One of your modules'} still raises NotImplementedError: finish "
                        "that exercise, or leave out --only-mine to fill unfinished modules in from the reference.")
        return done("failed", f"Building or running your assembled GPTModel raised {type(e).__name__}: {e}"
                    + (f"\n  at {where}" if where else ""))
    finally:
        sys.modules.pop("exercises.gpt_model", None)

    checks = []
    problem = compare_values(ref_logits, my_logits, atol=1e-4, rtol=1e-4)
    if problem is None:
        checks.append(CheckResult("Your modules together give the reference GPT's logits", True))
        return done("passed", checks=checks)
    mine_by_name = dict(my_outs)
    mods = dict(mine.named_modules())
    for name, expected in ref_outs:
        got = mine_by_name.get(name)
        if got is None:
            continue
        p = compare_values(expected, got, atol=1e-4, rtol=1e-4)
        if p is not None:
            owner = _exercise_of(mods[name]) if name in mods else "?"
            checks.append(CheckResult(
                "Your modules together give the reference GPT's logits", False,
                f"The first output that differs is `{name}` (from exercises/{owner}.py):\n{p}\n"
                f"Grade that exercise on its own: tutor grade {owner}"))
            return done("failed", checks=checks)
    checks.append(CheckResult("Your modules together give the reference GPT's logits", False,
                              "The final logits differ, though no sub-module's output does:\n" + problem
                              + "\nLook at how GPTModel.forward combines its parts (exercises/gpt_model.py)."))
    return done("failed", checks=checks)


def check_assembly(server, workspace, only_mine: bool = False) -> ExerciseResult:
    """Run the assembly check for a workspace in a grading child: the learner's passing modules with the
    reference filling in the rest, as a run does (`only_mine`: every one of the learner's modules)."""
    return server.grade_assembly(workspace.root, only_mine=only_mine)
