"""A live TensorFlow Playground served by nnkit: ``nnkit playground --serve [URL]``.

Needs the ``serve`` extra (Starlette and uvicorn). ``create_app`` is the ASGI app (nnkit.serve.app),
``serve`` binds and runs it (nnkit.serve.server); the page's files are in ``static/``.
"""

from nnkit.serve.server import serve

__all__ = ["serve", "create_app"]


def create_app(*args, **kwargs):
    """The ASGI app (imports Starlette only when called)."""
    from nnkit.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)
