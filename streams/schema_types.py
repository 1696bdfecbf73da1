"""The published JSON Schema files turned into msgspec struct types, so that decoding and validating
an event is one pass in C instead of ``orjson.loads`` followed by a schema check of the dict (about
a fifth of the cost, measured on the worker's hot path).

Only the subset of JSON Schema the contract files use is understood (an object of typed properties
with ``required``, string lengths and patterns, arrays of such scalars, number bounds, ``enum``/``const``, nullable types, and
``anyOf`` of ``required`` lists); anything else raises at import, so a schema change that this module
cannot express fails loudly rather than being checked less. Two rules msgspec cannot state are
checked after decoding (``Compiled.check``): an ``integer`` may be written ``4.0`` in JSON, and one
of several properties may be required. tests/unit/test_schema_types.py holds the compiled types to
the same verdicts as a plain JSON Schema validator on the same documents.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any, Literal, Union

import msgspec

_UNDERSTOOD = {"$schema", "$id", "title", "description", "type", "required", "properties", "anyOf"}
_PROPERTY_KEYS = {
    "type", "description", "minLength", "maxLength", "pattern", "minimum", "maximum", "enum", "const", "items", "maxItems",
}
_SCALARS: dict[str, type] = {"string": str, "number": float, "integer": float, "boolean": bool}


class SchemaNotUnderstood(ValueError):
    """A schema feature this module cannot turn into a decoder (so it would not be checked)."""


@dataclass(frozen=True)
class Compiled:
    """A schema's decoder, plus the two rules it checks after decoding."""

    name: str
    struct: type[msgspec.Struct]
    decoder: msgspec.json.Decoder[Any]
    integers: tuple[str, ...]
    any_of_required: tuple[tuple[str, ...], ...]

    def check(self, document: msgspec.Struct) -> str | None:
        """The problem msgspec could not see, or None."""
        for name in self.integers:
            value = getattr(document, name)
            if isinstance(value, float) and not value.is_integer():
                return f"Expected `int`, got `float` - at `$.{name}`"
        for group in self.any_of_required:
            if all(getattr(document, name) is msgspec.UNSET for name in group):
                return f"Object must contain one of {', '.join(f'`{name}`' for name in group)}"
        return None


def _property_type(name: str, spec: dict[str, Any]) -> Any:
    unknown = set(spec) - _PROPERTY_KEYS
    if unknown:
        raise SchemaNotUnderstood(f"property {name}: {sorted(unknown)}")
    if "enum" in spec or "const" in spec:
        values = tuple(spec["enum"]) if "enum" in spec else (spec["const"],)
        return Literal[values]  # type: ignore[valid-type]
    if spec.get("type") == "array":
        listed: Any = list[_property_type(f"{name}[]", spec["items"])]  # type: ignore[misc]
        return Annotated[listed, msgspec.Meta(max_length=spec["maxItems"])] if "maxItems" in spec else listed
    if "items" in spec or "maxItems" in spec:
        raise SchemaNotUnderstood(f"property {name}: items outside an array")
    types = spec["type"] if isinstance(spec["type"], list) else [spec["type"]]
    nullable = "null" in types
    named = [t for t in types if t != "null"]
    if len(named) != 1 or named[0] not in _SCALARS:
        raise SchemaNotUnderstood(f"property {name}: type {spec['type']!r}")
    constraints = {
        key: spec[schema_key]
        for schema_key, key in (("minLength", "min_length"), ("maxLength", "max_length"), ("pattern", "pattern"),
                                ("minimum", "ge"), ("maximum", "le"))
        if schema_key in spec
    }  # fmt: skip
    base: Any = _SCALARS[named[0]]
    typed = Annotated[base, msgspec.Meta(**constraints)] if constraints else base
    return Union[typed, None] if nullable else typed


def compile_schema(schema: dict[str, Any], name: str) -> Compiled:
    unknown = set(schema) - _UNDERSTOOD
    if unknown or schema.get("type") != "object":
        raise SchemaNotUnderstood(f"{name}: {sorted(unknown) or 'not an object schema'}")
    required = set(schema.get("required", ()))
    groups: list[tuple[str, ...]] = []
    for alternative in schema.get("anyOf", ()):
        if set(alternative) != {"required"}:
            raise SchemaNotUnderstood(f"{name}: anyOf other than required lists")
        groups.append(tuple(alternative["required"]))
    any_of = tuple(tuple(sorted({n for group in groups for n in group}))) if groups else ()
    if groups and any(len(group) != 1 for group in groups):
        raise SchemaNotUnderstood(f"{name}: anyOf with several names in one required list")
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
    for prop, spec in schema["properties"].items():
        typed = _property_type(prop, spec)
        fields.append((prop, typed) if prop in required else (prop, Union[typed, msgspec.UnsetType], msgspec.UNSET))
    fields.sort(key=len)  # msgspec wants the fields without defaults first
    struct = msgspec.defstruct(name, fields, kw_only=True)
    integers = tuple(p for p, spec in schema["properties"].items() if spec.get("type") == "integer")
    return Compiled(name, struct, msgspec.json.Decoder(struct), integers, (any_of,) if any_of else ())


def load_schema(filename: str) -> dict[str, Any]:
    text = resources.files("streams").joinpath("schemas", filename).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
