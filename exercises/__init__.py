"""Pristine exercise stubs. `tutor init` copies them into your workspace; edit the copies there."""
