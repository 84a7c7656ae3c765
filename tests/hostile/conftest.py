from hostile.server import hostile  # noqa: F401 (the fixture)
