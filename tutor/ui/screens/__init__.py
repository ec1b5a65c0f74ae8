"""The tutor app's screens, one per module (modes: learn, grade, train, playground; plus dialogs)."""
