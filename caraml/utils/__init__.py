"""caraml 0.x's helper modules, kept for code that imports them: :mod:`caraml.utils.serializer`."""
