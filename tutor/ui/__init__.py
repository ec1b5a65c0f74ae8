"""The Textual front end of `tutor` (Learn, Grade, Train, Playground).

It holds no course logic: it shows what the domain modules (curriculum, workspace, progress, grading, runs)
compute, and starts grading and runs off the UI thread. Import only `tutor.ui.app.make_app`; nothing on the
path that draws the first screen may import torch.
"""
