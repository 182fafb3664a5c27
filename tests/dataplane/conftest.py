from tests.dataplane.harness import service  # noqa: F401  (fixture)
