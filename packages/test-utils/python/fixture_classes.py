"""Plain user classes pickled into fixtures; they load as opaque objects."""


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
