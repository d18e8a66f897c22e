"""Chat templates for base models whose tokenizer has none (checked before any model loads)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from harness.errors import HarnessError


def shipped() -> dict[str, str]:
    """Named templates in training/chat_templates.yaml."""
    text = resources.files("training").joinpath("chat_templates.yaml").read_text()
    return yaml.safe_load(text)


def resolve_template(value: str) -> str:
    """An inline Jinja template, a .jinja file path, or a shipped template's name."""
    if "{{" in value or "{%" in value:
        return value
    path = Path(value).expanduser()
    if path.is_file():
        return path.read_text()
    named = shipped()
    if value in named:
        return named[value]
    raise HarnessError(
        f"chat_template {value!r}: not a template, a .jinja file or a shipped name "
        f"({', '.join(named)})"
    )


def load_tokenizer(model_path: str, chat_template: str | None):
    """The model's tokenizer with the recipe's template set; one is required for chat rows."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if chat_template:
        tokenizer.chat_template = resolve_template(chat_template)
    if not tokenizer.chat_template:
        raise HarnessError(
            f"tokenizer of {model_path} has no chat template; set `chat_template:` in the recipe "
            f"(one of {', '.join(shipped())}, a .jinja file, or an inline template)"
        )
    return tokenizer
