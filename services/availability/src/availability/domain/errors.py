"""What availability refuses, independent of HTTP."""


class NotFound(Exception):
    """The resource does not exist, or the caller may not see it."""


class ServiceNotFound(NotFound):
    """The service searched for does not exist."""
