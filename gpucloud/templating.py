"""Rendering the repository's Jinja2 templates (``templates/``) safely.

``StrictUndefined``: a variable a template names but the caller did not pass is an error, never an
empty string. What users type reaches the output only through a filter that escapes it for the file's
language, and only as data: Jinja never evaluates a value, so ``{{ 7*7 }}`` in a display name stays
that text.

- ``yaml_str``: a YAML double-quoted scalar (PyYAML's own emitter), so ``: ``, ``#``, quotes and new
  lines load back as the same string.
- ``yaml_number``: a number as YAML writes it (``2.4``, ``50``).
- ``md_text``: Markdown with every punctuation character backslash-escaped and new lines as hard breaks,
  so the text shows literally and never becomes a link, heading, HTML or table cell.
"""

from __future__ import annotations

import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from gpucloud.errors import ConfigError

TEMPLATES_DIR = "templates"
_MD_SPECIAL = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character


def yaml_str(value: object) -> str:
    text = yaml.dump(str(value), Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=math.inf).rstrip(
        "\n"
    )
    return text.removesuffix("\n...").rstrip("\n")


def yaml_number(value: float | int) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def md_text(value: object) -> str:
    return "\\\n".join(_MD_SPECIAL.sub(r"\\\1", line) for line in str(value).split("\n"))


@cache
def environment(root: Path) -> jinja2.Environment:
    """One environment per templates folder: templates compile once, and Jinja reloads one that changed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root / TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # YAML and Markdown: escaping is per language, through the filters above
        keep_trailing_newline=True,
        trim_blocks=False,
    )
    env.filters.update(yaml_str=yaml_str, yaml_number=yaml_number, md_text=md_text)
    return env


def render(root: Path, name: str, context: dict[str, Any]) -> str:
    """``templates/<name>`` rendered with ``context``; a ConfigError when a template is missing or wrong."""
    try:
        return environment(root).get_template(name).render(context)
    except jinja2.TemplateNotFound:
        raise ConfigError(f"template {TEMPLATES_DIR}/{name} not found in {root}") from None
    except jinja2.UndefinedError as err:
        raise ConfigError(f"template {TEMPLATES_DIR}/{name}: {err.message}") from None
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"template {TEMPLATES_DIR}/{name} line {err.lineno}: {err.message}") from None
