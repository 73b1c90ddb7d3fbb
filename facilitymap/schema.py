"""JSON Schemas for the two kinds of file a person writes by hand: source descriptors and map specs.

Both are checked with `jsonschema` before anything reads them, so a wrong type is ``file: key.path: problem``
instead of a traceback deep in a reader, and an unknown key (a typo in our ``facilitymap`` block or in a spec) is an
error that suggests the nearest known key. The schemas are data: ``facilitymap/schemas/*.schema.json``.
"""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

import jsonschema

from .errors import SchemaError, SpecSchemaError

MAX_SHOWN = 60  # characters of a bad value quoted in a message


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """``descriptor`` or ``map-spec``: the schema as a dict (checked against its metaschema once)."""
    text = resources.files("facilitymap").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema = json.loads(text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def problems(data, schema_name: str) -> list[str]:
    """Every way `data` does not fit the schema, as ``key.path: problem`` lines, in document order."""
    validator = jsonschema.Draft202012Validator(load_schema(schema_name))
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    out: list[str] = []
    for e in errors:
        line = f"{key_path(e.absolute_path)}: {_message(e)}"
        if line not in out:
            out.append(line)
    return out


def check_descriptor(data, path: str | Path) -> None:
    """Raise SchemaError (every problem, the first as ``problem``) when a datapackage.json does not fit."""
    found = problems(data, "descriptor")
    if found:
        raise SchemaError(path, None, found[0], found)


def check_spec(data, path: str | Path) -> None:
    """Raise SpecSchemaError (a SpecError, so a BuildError, and a SchemaError) when a spec does not fit."""
    found = problems(data, "map-spec")
    if found:
        raise SpecSchemaError(path, None, found[0], found)


def key_path(parts) -> str:
    """("resources", 0, "bytes") -> "resources[0].bytes"; the top level is "(top level)"."""
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


_TYPE_NAMES = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
               "object": "an object (mapping)", "array": "a list", "null": "null"}


def _types(t) -> str:
    ts = t if isinstance(t, list) else [t]
    return " or ".join(_TYPE_NAMES.get(x, x) for x in ts)


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _message(e: jsonschema.ValidationError) -> str:
    v, inst, sch = e.validator, e.instance, e.schema
    if v == "type":
        return f"{_shown(inst)} is {_json_type(inst)}, should be {_types(e.validator_value)}"
    if v == "additionalProperties" and isinstance(inst, dict):
        known = sorted(sch.get("properties", {}))
        extra = sorted(k for k in inst if k not in sch.get("properties", {}))
        parts = []
        for k in extra:
            near = difflib.get_close_matches(str(k), known, n=1)
            parts.append(f"unknown key {str(k)!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        return "; ".join(parts) + (f" (known: {', '.join(known)})" if known else "")
    if v == "enum":
        return f"{_shown(inst)} is not one of {', '.join(map(str, e.validator_value))}"
    if v == "required":
        return e.message.replace(" is a required property", " is missing")
    if v == "pattern" and list(e.absolute_path)[-1:] == ["hash"]:
        return f"{_shown(inst)} is not 'sha256:<64 hex digits>' (every file needs its sha256)"
    if v == "pattern" and list(e.absolute_path) == ["basemap"]:
        return f"{_shown(inst)} is not one of default, none, osm, satellite, consent[:default|osm|satellite], pmtiles:PATH"
    if v == "pattern":
        return f"{_shown(inst)} does not have the form {e.validator_value}"
    if v in ("oneOf", "anyOf"):
        kinds = [s.get("type") or (load_schema_ref(s) or {}).get("type") for s in e.validator_value]
        if all(kinds):
            return f"{_shown(inst)} is {_json_type(inst)}, should be " + " or ".join(_types(k) for k in kinds)
        return f"{_shown(inst)} is not valid here"
    if v == "minLength" and e.validator_value == 1:
        return f"{_shown(inst)} is empty"
    if v in ("minItems", "maxItems", "minLength", "maxLength", "minimum", "maximum"):
        return f"{_shown(inst)}: {v} is {e.validator_value}"
    msg = e.message
    return msg if len(msg) <= 200 else msg[:197] + "..."


def load_schema_ref(sub: dict) -> dict | None:
    """The definition a ``{"$ref": "#/$defs/x"}`` names, in either schema (for messages only)."""
    ref = sub.get("$ref", "")
    if not ref.startswith("#/$defs/"):
        return None
    name = ref.rsplit("/", 1)[1]
    for schema in ("descriptor", "map-spec"):
        d = load_schema(schema).get("$defs", {}).get(name)
        if d is not None:
            return d
    return None
