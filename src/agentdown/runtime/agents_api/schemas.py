"""Request and response bodies of the Agents API (assistants, threads, messages), as pydantic models.

Requests tolerate unknown fields (newer SDKs send more than 1.1.0 knows) and are
otherwise strict: a wrong value is a 400 naming the field the way a caller wrote it
(``messages[0].content[1].type``), see :func:`parse`. Unions are tagged with names
starting ``@`` so that the error path can drop them: pydantic puts the union member
in the location, a caller never wrote it.

Responses are built through the ``*Object`` models and served without nulls
(:func:`dump`); list pages keep ``first_id`` / ``last_id`` as ``null`` on an empty
page, which is what ends the SDK's pager.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StrictBool,
    Tag,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from agentdown.runtime.agents_api.errors import ApiProblem, bad_request
from agentdown.runtime.agents_api.tooldefs import RUNS_HERE

__all__ = [
    "IMAGE_URL_PATTERN",
    "MAX_METADATA_KEY",
    "MAX_METADATA_PAIRS",
    "MAX_METADATA_VALUE",
    "METADATA_SCHEMA",
    "TOOL_RESOURCE_KEYS",
    "AssistantCreate",
    "AssistantObject",
    "AssistantUpdate",
    "Attachment",
    "DeletionStatus",
    "ErrorBody",
    "ErrorDetail",
    "ImageFileBlockIn",
    "ImageUrlBlockIn",
    "ListBody",
    "MessageCreate",
    "MessageObject",
    "MessageUpdate",
    "ResponseFormatObject",
    "TextBlockIn",
    "ThreadCreate",
    "ThreadObject",
    "ThreadUpdate",
    "ToolDefinitions",
    "ToolResources",
    "dump",
    "field_path",
    "parse",
    "validation_problem",
]

MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
"""The service's metadata rules: at most 16 pairs, keys up to 64 characters, values up to 512."""


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    # Messages are built here, not as templates: a key may hold braces.
    if len(value) > MAX_METADATA_PAIRS:
        raise PydanticCustomError(
            "metadata_too_many",
            f"at most {MAX_METADATA_PAIRS} key/value pairs are allowed, got {len(value)}",
        )
    for key, item in value.items():
        if not key:
            raise PydanticCustomError("metadata_key_empty", "keys must not be empty")
        if len(key) > MAX_METADATA_KEY:
            raise PydanticCustomError(
                "metadata_key_too_long",
                f"key {key[:20]!r}... is {len(key)} characters long; keys are at most {MAX_METADATA_KEY}",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise PydanticCustomError(
                "metadata_value_too_long",
                "{quoted} is {length} characters long; values are at most {limit}",
                {"key": key, "quoted": repr(key), "length": len(item), "limit": MAX_METADATA_VALUE},
            )
    return value


METADATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_METADATA_PAIRS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY},
    "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE},
}
"""What :func:`_check_metadata` accepts, for the document."""
Metadata = Annotated[dict[str, str], AfterValidator(_check_metadata), WithJsonSchema(METADATA_SCHEMA)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


Detail = Literal["auto", "low", "high"]


class TextBlockIn(_Request):
    type: Literal["text"]
    text: str


# Literal character classes only: generators of the document (hypothesis-jsonschema) and
# Python's re disagree on what \s matches.
IMAGE_URL_PATTERN = r"^(https?://[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]{1,5})?([/?#][^ ]*)?|data:[^,]*,[^ ]*)$"
"""The ``image_url`` URLs a message may carry: an http(s) URL with a host name, or a ``data:`` URL.

Checked by ``messages.message_content`` with its own error, and published in the document."""


class ImageUrlParam(_Request):
    url: Annotated[str, WithJsonSchema({"type": "string", "pattern": IMAGE_URL_PATTERN})]
    detail: Detail | None = None


class ImageUrlBlockIn(_Request):
    type: Literal["image_url"]
    image_url: ImageUrlParam


class ImageFileParam(_Request):
    file_id: str
    detail: Detail | None = None


class ImageFileBlockIn(_Request):
    type: Literal["image_file"]
    image_file: ImageFileParam


BLOCK_TYPES = ("text", "image_url", "image_file")


def _block_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return f"@{kind}" if kind in BLOCK_TYPES else None


ContentBlock = Annotated[
    Annotated[TextBlockIn, Tag("@text")]
    | Annotated[ImageUrlBlockIn, Tag("@image_url")]
    | Annotated[ImageFileBlockIn, Tag("@image_file")],
    Discriminator(
        _block_tag,
        custom_error_type="content_block_type",
        custom_error_message="expected a content block of type 'text', 'image_url' or 'image_file'",
    ),
]


def _content_tag(value: Any) -> str | None:
    return "@str" if isinstance(value, str) else "@blocks" if isinstance(value, list) else None


Content = Annotated[
    # Empty content is refused by messages.message_content (its own message); the document says so.
    Annotated[str, Tag("@str"), WithJsonSchema({"type": "string", "minLength": 1})]
    | Annotated[list[ContentBlock], Tag("@blocks"), Field(json_schema_extra={"minItems": 1})],
    Discriminator(
        _content_tag,
        custom_error_type="content_type",
        custom_error_message="expected a string or a list of content blocks",
    ),
]


class DataSource(_Request):
    uri: str
    type: Literal["uri_asset", "id_asset"]


class AttachmentTool(_Request):
    type: Literal["file_search", "code_interpreter"]


def _file_attachment(schema: dict[str, Any]) -> None:
    # What messages.py keeps: an uploaded file; a data_source attachment is refused (400).
    schema["required"] = sorted({*schema.get("required", []), "file_id"})
    schema["properties"]["file_id"] = {"type": "string"}
    schema["properties"]["data_source"] = {"type": "null", "description": "Not supported."}
    schema["properties"]["tools"]["minItems"] = 1


class Attachment(_Request):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, json_schema_extra=_file_attachment)

    file_id: str | None = None
    data_source: DataSource | None = None
    tools: list[AttachmentTool]


class MessageCreate(_Request):
    role: Literal["user", "assistant"]
    content: Content
    attachments: list[Attachment] | None = None
    metadata: Metadata | None = None


class MessageUpdate(_Request):
    metadata: Metadata | None = None


class JsonSchemaFormat(_Request):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    schema_: dict[str, Any] = Field(alias="schema")
    strict: StrictBool | None = None


def _schema_when_json_schema(schema: dict[str, Any]) -> None:
    # _schema_given below, for the document.
    schema["anyOf"] = [
        {"properties": {"type": {"enum": ["text", "json_object"]}}},
        {"required": ["json_schema"], "properties": {"json_schema": {"type": "object"}}},
    ]


class ResponseFormatObject(_Request):
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, json_schema_extra=_schema_when_json_schema
    )

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormatObject:
        if self.type == "json_schema" and self.json_schema is None:
            raise PydanticCustomError(
                "json_schema_missing", "type 'json_schema' needs a 'json_schema' object"
            )
        return self


ResponseFormat = Annotated[
    Annotated[Literal["auto", "none"], Tag("@mode")] | Annotated[ResponseFormatObject, Tag("@object")],
    Discriminator(
        lambda v: "@mode" if isinstance(v, str) else "@object" if isinstance(v, dict | BaseModel) else None,
        custom_error_type="response_format_type",
        custom_error_message="expected 'auto', 'none' or an object {\"type\": ...}",
    ),
]


ToolDefinitions = Annotated[
    list[dict[str, Any]],
    WithJsonSchema(
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": list(RUNS_HERE)}},
            },
        }
    ),
]
"""A list of tool definitions: the rest of each is checked by
:func:`~agentdown.runtime.agents_api.tooldefs.check_tool_definitions`, whose errors say why
(a cloud-only type, a missing name, an OpenAPI spec that does not parse)."""


TOOL_RESOURCE_KEYS = ("code_interpreter", "file_search", "azure_ai_search")
ToolResources = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            "type": "object",
            "properties": {key: {} for key in TOOL_RESOURCE_KEYS},
            "additionalProperties": False,
        }
    ),
]
"""Resources of the tools that take them: each value is checked by
:func:`~agentdown.runtime.agents_api.assistants.check_tool_resources` (its own errors)."""


class _AssistantFields(_Request):
    name: Annotated[str, Field(max_length=256)] | None = None
    description: Annotated[str, Field(max_length=512)] | None = None
    instructions: Annotated[str, Field(max_length=256_000)] | None = None
    tools: ToolDefinitions | None = None
    tool_resources: ToolResources | None = None
    # Strict: a JSON true is not 1.0 (an integer still is a number).
    temperature: Annotated[float, Field(ge=0, le=2, strict=True)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1, strict=True)] | None = None
    response_format: ResponseFormat | None = None
    metadata: Metadata | None = None


class AssistantCreate(_AssistantFields):
    model: Annotated[str, Field(min_length=1)]


class AssistantUpdate(_AssistantFields):
    """Only the fields sent change (the SDK leaves out the ones it was not given)."""

    model: Annotated[str, Field(min_length=1)] | None = None


class ThreadCreate(_Request):
    messages: list[MessageCreate] | None = None
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


class ThreadUpdate(_Request):
    tool_resources: ToolResources | None = None
    metadata: Metadata | None = None


# -- responses ------------------------------------------------------------------------------------


class _Response(BaseModel):
    # Stored bodies may carry fields written by newer code (runs add some): they pass through.
    model_config = ConfigDict(extra="allow")


class AssistantObject(_Response):
    id: str
    object: Literal["assistant"] = "assistant"
    created_at: int
    name: str | None = None
    description: str | None = None
    model: str
    instructions: str | None = None
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_resources: dict[str, Any] = Field(default_factory=dict)
    temperature: float | None = None
    top_p: float | None = None
    response_format: Any = None
    metadata: dict[str, str] = Field(default_factory=dict)


class ThreadObject(_Response):
    id: str
    object: Literal["thread"] = "thread"
    created_at: int
    tool_resources: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, str] = Field(default_factory=dict)


class MessageObject(_Response):
    """The shape :func:`agentdown.runtime.agents_api.objects.message_object` builds."""

    id: str
    object: Literal["thread.message"] = "thread.message"
    created_at: int
    thread_id: str
    status: str
    completed_at: int | None = None
    incomplete_at: int | None = None
    incomplete_details: dict[str, Any] | None = None
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]]
    assistant_id: str | None = None
    run_id: str | None = None
    attachments: list[dict[str, Any]] = Field(default_factory=list)
    metadata: dict[str, str] = Field(default_factory=dict)


class ListBody(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool


class DeletionStatus(BaseModel):
    id: str
    object: str
    """``assistant.deleted``, ``thread.deleted``..."""
    deleted: bool = True


class ErrorDetail(BaseModel):
    code: str
    message: str
    param: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def dump(model: BaseModel) -> dict[str, Any]:
    """A response object as served: JSON types, field aliases, no nulls."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- parsing --------------------------------------------------------------------------------------

Model = TypeVar("Model", bound=BaseModel)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Key(str):
    """A mapping key in an error location (``metadata['a b']``), never a field name."""

    __slots__ = ()


def parse(model: type[Model], data: Any, field: str = "") -> Model:
    """``data`` as ``model``, or a 400 naming the field at fault (under ``field``, if given)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, field) from None


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``messages[0].content[1].type`` of pydantic's ``('messages', 0, 'content', '@blocks', 1, ...)``."""
    path = prefix
    for part in loc:
        if isinstance(part, _Key):
            path += f"[{str(part)!r}]"
        elif isinstance(part, int):
            path += f"[{part}]"
        elif part.startswith("@"):
            continue  # a union member's tag, not a field
        elif _IDENT.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{part!r}]"  # a metadata key, say
    return path or "body"


def validation_problem(exc: ValidationError, prefix: str = "") -> ApiProblem:
    """The first error of ``exc`` as a 400 whose message starts with the field's path."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = tuple(first["loc"])
    kind = first["type"]
    if kind == "content_block_type":
        loc = (*loc, "type")
        got = first["input"].get("type") if isinstance(first["input"], dict) else first["input"]
        message = f"expected 'text', 'image_url' or 'image_file', got {got!r}"
    elif kind == "metadata_value_too_long":
        loc = (*loc, _Key(first["ctx"]["key"]))
        message = f"the value {first['msg']}"
    elif kind == "missing":
        message = "is required"
    elif kind == "literal_error":
        message = f"{first['msg'][0].lower()}{first['msg'][1:]}, got {first['input']!r}"
    else:
        message = f"{first['msg'][0].lower()}{first['msg'][1:]}"
    path = field_path(loc, prefix)
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return bad_request(f"{path}: {message}{more}", path)
