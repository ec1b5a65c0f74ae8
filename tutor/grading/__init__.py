"""Grading: run an exercise's hidden check suite against the learner's code in an isolated child process.

`results` holds the result types, `framework` the API check modules are written in, `child` what runs
inside the forked process, `server` the warm process that has imported torch and forks one child per
exercise, `runner` the client the CLI, the TUI and the tests talk to. No UI code here.
"""
