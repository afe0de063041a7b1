"""Bot API request parameters from a query string, JSON, urlencoded or multipart body."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from .errors import bad_request

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass
class Params:
    """Typed access to parameters that arrive as strings (forms) or JSON values."""

    values: dict[str, Any] = field(default_factory=dict)
    files: dict[str, UploadFile] = field(default_factory=dict)
    _form: FormData | None = None

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, (dict, list)) else str(value)

    def integer(self, name: str, error: str) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            raise bad_request(error)
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(error) from None

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json(self, name: str, error: str) -> Any:
        """A JSON-serialised parameter; already-decoded values (JSON bodies) pass through."""
        value = self.values.get(name)
        if not isinstance(value, str):
            return value
        if value == "":
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(error) from None

    def upload(self, name: str) -> UploadFile | None:
        return self.files.get(name)

    async def close(self) -> None:
        if self._form is not None:
            await self._form.close()


async def read_params(request: Request) -> Params:
    params = Params(values=dict(request.query_params))
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("application/json"):
        body = await request.body()
        if body.strip():
            try:
                decoded = json.loads(body)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(decoded, dict):
                raise bad_request("JSON object expected")
            params.values.update(decoded)
    elif content_type.startswith(_FORM_TYPES):
        form = await request.form(max_files=100, max_fields=1000)
        params._form = form
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                params.files[key] = value
            else:
                params.values[key] = value
    return params


async def parse_form_body(content_type: str, body: bytes) -> Params:
    """Parse a body that did not come in as a request (a webhook's reply)."""
    scope = {
        "type": "http",
        "method": "POST",
        "query_string": b"",
        "headers": [(b"content-type", content_type.encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return await read_params(Request(scope, receive))
