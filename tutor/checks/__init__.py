"""Hidden check suites, one pytest module per exercise (run by the grader, not by the project's tests)."""
