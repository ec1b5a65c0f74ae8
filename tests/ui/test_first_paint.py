"""The first screen is drawn without torch, tiktoken, the grading framework or the plotting library: they load
later (the grader in its own process, the others with the screens that need them)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tutor.workspace import init_workspace

HEAVY = ["torch", "tiktoken", "tutor.grading.framework", "tutor.runs.pretrain", "textual_plotext", "plotext",
         "numpy"]


def test_first_screen_imports_no_heavy_module(tmp_path):
    ws = init_workspace(tmp_path / "gpt-workspace")
    code = textwrap.dedent(f"""
        import asyncio, sys
        from tutor.ui.app import make_app
        from tutor.workspace import find_workspace

        async def main():
            app = make_app(find_workspace({str(ws.root)!r}))  # as the CLI builds it (the grader starts after paint)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                assert type(app.screen).__name__ == "LearnScreen", app.screen
                print(" ".join(sorted(sys.modules)))

        asyncio.run(main())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    modules = set(out.stdout.split())
    assert "textual" in modules, "the probe did not run the app"
    loaded = [m for m in HEAVY if m in modules]
    assert not loaded, f"the first paint imported {loaded}"
