"""The one exception the image commands turn into a clear one-line error."""


class ImageError(Exception):
    """An image could not be built, saved or loaded; the message says why and what to do."""
