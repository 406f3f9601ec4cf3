"""Rendering pages: the Jinja2 environment, the page language, and form errors.

The language is Japanese unless the person chose English: `?lang=en` (or `?lang=ja`) on any page
switches and is remembered in the `lang` cookie. Templates call `tr(ja, en)` so both texts sit
side by side where they are used. Autoescaping is always on: nothing a person typed reaches the
page unescaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from api.errors import ApiError, FieldError, InvalidFields
from api.messages import Message

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("ja", "en")
LANG_COOKIE = "lang"
LANG_COOKIE_SECONDS = 365 * 86400


def page_language(request: Request) -> str:
    """Return "en" or "ja": the `lang` query parameter first, then the cookie, else Japanese."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    remembered = request.cookies.get(LANG_COOKIE)
    return remembered if remembered in LANGUAGES else "ja"


def switch_url(request: Request, language: str) -> str:
    """Return this page's URL with `lang=language`, keeping the other query parameters."""
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    query.append(("lang", language))
    return f"{request.url.path}?{urlencode(query)}"


@dataclass
class FormErrors:
    """Errors of one form: a message per field (in order) and messages about the whole form."""

    language: str
    by_field: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add_field(self, name: str, message: Message) -> None:
        """Keep the first message for `name` (the most basic problem with that field)."""
        self.by_field.setdefault(name, message.in_language(self.language))

    def add_general(self, message: Message) -> None:
        """Add a message about the whole form."""
        self.general.append(message.in_language(self.language))

    def add_field_errors(self, errors: Iterable[FieldError], *, rename: Mapping[str, str]) -> None:
        """Add service field errors, mapping service field names to form field names."""
        for error in errors:
            self.add_field(rename.get(error.field, error.field), error.message)

    def add_api_error(self, error: ApiError, *, on_field: str | None = None) -> None:
        """Add an API error to `on_field`, or to the whole form when None."""
        if isinstance(error, InvalidFields):
            self.add_field_errors(error.errors, rename={})
        elif on_field is not None:
            self.add_field(on_field, error.message)
        else:
            self.add_general(error.message)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


class Renderer:
    """Renders templates into responses in the page's language."""

    def __init__(self, *, secure_cookies: bool) -> None:
        self.environment = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.secure_cookies = secure_cookies

    def render(
        self,
        request: Request,
        template: str,
        context: Mapping[str, object] | None = None,
        *,
        status_code: int = 200,
    ) -> HTMLResponse:
        """Return `template` rendered for `request`; remembers an explicit `?lang=`."""
        language = page_language(request)

        def tr(ja: str, en: str) -> str:
            return en if language == "en" else ja

        def message(item: Message) -> str:
            return item.in_language(language)

        values: dict[str, object] = {
            "request": request,
            "lang": language,
            "tr": tr,
            "message": message,
            "switch_url": lambda code: switch_url(request, code),
            "errors": FormErrors(language),
        }
        values.update(context or {})
        html = self.environment.get_template(template).render(values)
        response = HTMLResponse(html, status_code=status_code)
        if request.query_params.get("lang") in LANGUAGES:
            response.set_cookie(
                LANG_COOKIE,
                language,
                max_age=LANG_COOKIE_SECONDS,
                samesite="lax",
                secure=self.secure_cookies,
            )
        return response


def redirect(url: str) -> RedirectResponse:
    """Return a 303 See Other to `url` (after a form post, so reloading does not post again)."""
    return RedirectResponse(url, status_code=303)
