"""The one Jinja environment: templates shipped in the package (`alertnet/templates`), overridable.

An operator may override any template by putting a file of the same name in the directory named by the
`templates_dir` setting (`ALERTNET_TEMPLATES_DIR`); the package's own templates fill in the rest. The
environment is built once, at start-up (`configure`), and used for emails and pages alike.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

_environment: jinja2.Environment | None = None


def build_environment(override_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment over the package's templates, with `override_dir` looked in first."""
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(override_dir))
    loaders.append(jinja2.PackageLoader("alertnet", "templates"))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        # HTML templates (*.html.j2) are autoescaped; plain-text ones (*.txt.j2) are not.
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def configure(override_dir: Path | None) -> jinja2.Environment:
    """Build the process's environment once at start-up (a second call replaces it)."""
    global _environment
    _environment = build_environment(override_dir)
    return _environment


def environment() -> jinja2.Environment:
    """The process's environment; the package's templates alone if `configure` was not called."""
    return _environment if _environment is not None else configure(None)
