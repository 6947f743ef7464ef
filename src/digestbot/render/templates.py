"""The Jinja2 environment: packaged default templates, an optional override directory."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jinja2

import digestbot

__all__ = ["Templates", "default_template_dir", "default_templates"]


def default_template_dir() -> Path:
    """Where the packaged templates live: ``digestbot/_templates`` in a wheel, the
    repository's ``templates/`` in an editable install."""
    package = Path(digestbot.__file__).parent
    shipped = package / "_templates"
    if shipped.is_dir():
        return shipped
    return package.parents[1] / "templates"


def _autoescape(name: str | None) -> bool:
    """HTML templates escape; plain-text ones (``*.txt.j2``, ``*.txt``) do not."""
    if name is None:
        return True
    return not name.endswith((".txt.j2", ".txt"))


class Templates:
    """Renders named templates; files in ``override_dir`` shadow the packaged ones.

    The environment is built once: compiled templates are cached, HTML templates are
    autoescaped, undefined variables raise.
    """

    def __init__(self, override_dir: Path | None = None) -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        self.default_dir = default_template_dir()
        loaders.append(jinja2.FileSystemLoader(str(self.default_dir)))
        self.override_dir = override_dir
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=_autoescape,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
            auto_reload=False,
            cache_size=-1,
        )

    def get(self, name: str) -> jinja2.Template:
        """The compiled template ``name`` (cached after the first call)."""
        return self.env.get_template(name)

    def render(self, name: str, /, **ctx: Any) -> str:
        """Render template ``name`` with ``ctx``."""
        return self.env.get_template(name).render(**ctx)

    def __repr__(self) -> str:
        return f"Templates(override_dir={self.override_dir!r})"


@functools.cache
def default_templates() -> Templates:
    """The shared packaged-defaults-only :class:`Templates`."""
    return Templates()
