"""`tutor run …`: training and using the learner's assembled GPT (pretrain, generate).

Each run is a domain function taking a frozen config dataclass and an `emit` callback that receives plain
event dicts (`tutor.runs.events`); the CLI (`tutor.runs.cli`) and the TUI are two ways to render those events.
Nothing here imports textual; torch is imported inside the functions that train or generate.
"""
