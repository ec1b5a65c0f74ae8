"""Reusable widgets of the tutor app, one per module."""
