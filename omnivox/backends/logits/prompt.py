"""Messages -> prompt tokens, with the model's own chat template (from the GGUF metadata or settings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from omnivox.backends.logits.tool_format import render_calls
from omnivox.errors import InvalidRequest, ModelLoadError
from omnivox.runtimes.language_model import LanguageModel


def _raise_exception(message: str) -> NoReturn:
    raise jinja2.TemplateError(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


class PromptBuilder:
    """Renders OpenAI-style messages with one model's chat template and tokenizes the result."""

    def __init__(self, runtime: LanguageModel) -> None:
        self._runtime = runtime
        info = runtime.info
        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
        )
        env.globals.update(raise_exception=_raise_exception, strftime_now=_strftime_now)
        try:
            self._template = env.from_string(info.chat_template)
        except jinja2.TemplateError as exc:
            raise ModelLoadError(f"the chat template does not compile: {exc}") from exc
        self._bos = info.bos_token if info.add_bos else ""
        self._writes_calls = "tool_calls" not in info.chat_template

    def render(self, messages: Sequence[Mapping[str, Any]], tools: str | None = None) -> str:
        """The prompt text; `tools` (instructions describing the callable functions) joins the system
        message. Earlier calls are written into their turns when the template knows no `tool_calls`."""
        messages = [self._with_calls(m) for m in messages] if self._writes_calls else list(messages)
        if tools:
            messages = _with_system(messages, tools)
        try:
            text = self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self._runtime.info.bos_token,
                eos_token=self._runtime.info.eos_token,
            )
        except jinja2.TemplateError as exc:
            raise InvalidRequest(
                f"The model's chat template cannot render these messages: {exc}", param="messages"
            ) from exc
        if self._bos and not text.startswith(self._bos):
            text = self._bos + text
        return text

    def tokens(self, messages: Sequence[Mapping[str, Any]], tools: str | None = None) -> list[int]:
        return self._runtime.tokenize(self.render(messages, tools))

    @staticmethod
    def _with_calls(message: Mapping[str, Any]) -> Mapping[str, Any]:
        calls = message.get("tool_calls")
        if not calls:
            return message
        content = str(message.get("content") or "")
        return {**message, "content": (content + "\n" if content else "") + render_calls(calls)}


def _with_system(messages: list[Mapping[str, Any]], text: str) -> list[Mapping[str, Any]]:
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        return [{**first, "content": f"{first.get('content') or ''}\n\n{text}".strip()}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]
