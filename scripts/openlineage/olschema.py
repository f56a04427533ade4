"""Validation of OpenLineage run events against the official JSON Schemas.

Used by validate.py and receiver.py (beside this file). The schemas are the ones
fetch_spec.sh puts into a folder: OpenLineage.json (the core schema) and facets/*.json.

    registry = load_registry(spec_dir)
    errors = validate_event(event, registry)   # [] when the event is valid

An event is checked twice:

* against the core schema's RunEvent (#/$defs/RunEvent, not the whole schema: the core
  schema's top level is a oneOf of RunEvent, DatasetEvent and JobEvent, whose errors
  would only say "not valid under any of the given schemas"). The core schema checks
  the envelope and that every facet has `_producer` and `_schemaURL`, nothing more;
* every facet (run.facets, job.facets, inputs[]/outputs[].facets, inputs[].inputFacets,
  outputs[].outputFacets) against the facet schema its `_schemaURL` names, e.g.
  https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet.
  Also checked: the facet is under the key its schema gives it (`columnLineage`,
  `parent`, ...) and in a place its kind allows (a DatasetFacet under a dataset's
  `facets`, an OutputDatasetFacet under `outputFacets`, ...).

A facet whose `_schemaURL` is not in the registry (the vendored release has only some
of the facet schemas; e.g. not DatasetVersionDatasetFacet, the `version` facet) is
checked against the official Python client, openlineage-python, whose classes in
openlineage.client.generated.* are generated from the same spec; see _client_errors.
A `_schemaURL` that neither the registry nor the client knows is an error ("unknown
facet schema URL"), so an event cannot pass by naming a schema nobody checks.

Formats (`uuid`, `date-time`, `uri`) are checked: jsonschema checks `date-time` only
when rfc3339-validator is installed and `uri` only with rfc3987 or rfc3986-validator
(the `jsonschema[format-nongpl]` extra); load_registry fails when they are missing
rather than let a bad eventTime or producer pass silently.
"""

import importlib
import json
import os
import pkgutil
import types
import typing

import attr
import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

CORE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
RUN_EVENT = CORE_ID + "#/$defs/RunEvent"

# Where facets sit in a run event, and the core facet kinds allowed there.
# BaseFacet (a custom facet pointing at the core schema) is allowed anywhere.
_FACET_KINDS = {
    "run.facets": ("RunFacet",),
    "job.facets": ("JobFacet",),
    "facets": ("DatasetFacet",),
    "inputFacets": ("InputDatasetFacet",),
    "outputFacets": ("OutputDatasetFacet",),
}

_MESSAGE_LIMIT = 300


def _check_formats():
    checker = Draft202012Validator.FORMAT_CHECKER
    missing = [f for f in ("uuid", "date-time", "uri") if f not in checker.checkers]
    if missing:
        raise RuntimeError(
            "jsonschema cannot check the formats %s: install 'jsonschema[format-nongpl]' "
            "(rfc3339-validator, rfc3986-validator)" % ", ".join(missing)
        )
    # The checkers are registered when their packages import; make sure they reject.
    for fmt, bad in (("uuid", "not-a-uuid"), ("date-time", "2024-01-01 00:00"), ("uri", "no scheme")):
        if checker.conforms(bad, fmt):
            raise RuntimeError("jsonschema's %s format check accepts %r" % (fmt, bad))


def load_registry(spec_dir):
    """A referencing.Registry with the core schema and every facet schema of spec_dir,
    each under its $id."""
    _check_formats()
    _client_facets()  # fails here, not at the first facet, when openlineage-python is missing
    paths = [os.path.join(spec_dir, "OpenLineage.json")]
    facets_dir = os.path.join(spec_dir, "facets")
    if os.path.isdir(facets_dir):
        paths += sorted(
            os.path.join(facets_dir, name) for name in os.listdir(facets_dir) if name.endswith(".json")
        )
    resources = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            contents = json.load(f)
        uri = contents.get("$id")
        if not uri:
            raise ValueError("%s has no $id" % path)
        resources.append((uri, DRAFT202012.create_resource(contents)))
    registry = referencing.Registry().with_resources(resources).crawl()
    if CORE_ID not in registry:
        raise ValueError("%s/OpenLineage.json is not %s" % (spec_dir, CORE_ID))
    return registry


def _validator(registry, ref):
    return Draft202012Validator(
        {"$ref": ref}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _path(prefix, error):
    out = prefix
    for part in error.absolute_path:
        if isinstance(part, int):
            out += "[%d]" % part
        else:
            out += ("." if out else "") + str(part)
    return out or "(event)"


def _leaves(error):
    # anyOf/oneOf errors carry the real reasons in .context; their own message repeats
    # the whole instance (a facets object, a dataset), so report the reasons instead.
    if error.context:
        for sub in error.context:
            yield from _leaves(sub)
    else:
        yield error


def _errors(validator, instance, prefix):
    out = []
    for error in validator.iter_errors(instance):
        for leaf in _leaves(error):
            message = leaf.message
            if len(message) > _MESSAGE_LIMIT:
                message = message[:_MESSAGE_LIMIT] + "..."
            line = "%s: %s" % (_path(prefix, leaf), message)
            if line not in out:
                out.append(line)
    return out


def _facets(event):
    """(path of the facets object, place in _FACET_KINDS, facets object) of an event."""
    out = []
    for key in ("run", "job"):
        part = event.get(key)
        if isinstance(part, dict) and isinstance(part.get("facets"), dict):
            out.append((key + ".facets", key + ".facets", part["facets"]))
    for key, extra in (("inputs", "inputFacets"), ("outputs", "outputFacets")):
        datasets = event.get(key)
        if not isinstance(datasets, list):
            continue
        for i, dataset in enumerate(datasets):
            if not isinstance(dataset, dict):
                continue
            for name in ("facets", extra):
                if isinstance(dataset.get(name), dict):
                    out.append(("%s[%d].%s" % (key, i, name), name, dataset[name]))
    return out


def _facet_schema_info(registry, url):
    """(key the facet schema gives the facet or None, core kinds it extends) of the
    definition a _schemaURL points at; raises Unresolvable for unknown URLs."""
    base, _, fragment = url.partition("#")
    if base not in registry:
        raise referencing.exceptions.Unresolvable(ref=url)
    resolved = registry.resolver().lookup(url)
    definition = resolved.contents
    kinds = set()
    for part in definition.get("allOf", []) if isinstance(definition, dict) else []:
        ref = part.get("$ref", "") if isinstance(part, dict) else ""
        if ref.startswith(CORE_ID + "#/$defs/"):
            kinds.add(ref.rsplit("/", 1)[1])
    if base == CORE_ID and fragment.startswith("/$defs/"):
        kinds.add(fragment.rsplit("/", 1)[1])
    key = None
    root = registry.contents(base)
    for name, prop in (root.get("properties") or {}).items():
        if isinstance(prop, dict) and prop.get("$ref") == "#" + fragment:
            key = name
    return key, kinds


# Facets the vendored schemas lack, checked against the official Python client.

# The key a facet sits under is not in openlineage-python: its generated classes carry
# the facet's schema URL (the staticmethod _get_schema()) but not the key the spec gives
# the facet (a facet schema's top-level `properties`, e.g. DatasetVersionDatasetFacet.json's
# {"version": {"$ref": "#/$defs/DatasetVersionDatasetFacet"}}, which the client does not
# ship). So the keys are given here, by class name, for the facets medlake emits that
# only the client checks. A client facet not listed here is not held to a key.
_CLIENT_FACET_KEYS = {
    "DatasetVersionDatasetFacet": "version",
}

# JSON type names of the annotations whose values are type-checked (attrs checks none).
_JSON_TYPES = {str: "string", int: "integer", bool: "boolean", float: "number"}

_client_index = None


def _client_facets():
    """schema URL -> the facet class openlineage-python generated for it, for every facet
    class (a BaseFacet subclass with its own _get_schema()) of openlineage.client.generated."""
    global _client_index
    if _client_index is None:
        try:
            import openlineage.client.generated as generated
            from openlineage.client.generated.base import BaseFacet
        except ImportError as e:
            raise RuntimeError(
                "the OpenLineage Python client is not importable (%s): install 'openlineage-python>=1.39'" % e
            ) from e
        index = {}
        for info in pkgutil.iter_modules(generated.__path__):
            if info.name == "base":
                continue  # the core schema's classes (BaseFacet, RunFacet, ...): the registry has it
            module = importlib.import_module("%s.%s" % (generated.__name__, info.name))
            for cls in vars(module).values():
                if (
                    isinstance(cls, type)
                    and cls.__module__ == module.__name__
                    and issubclass(cls, BaseFacet)
                    and "_get_schema" in vars(cls)
                ):
                    index[cls._get_schema()] = cls
        _client_index = index
    return _client_index


def _scalar_types(annotation):
    """The Python types of an annotation that is str, int, bool or float (or a union of
    them, optionally with None); None for any other annotation (lists, nested classes,
    enums), whose values are not type-checked here."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
    else:
        args = (annotation,)
    args = [a for a in args if a is not type(None)]
    if not args or any(a not in _JSON_TYPES for a in args):
        return None
    return args


def _fits(value, py_types):
    """Whether a JSON value has one of the types. JSON null fits none: the client leaves
    None fields out of the JSON it writes, and the spec's schemas do not allow null."""
    for t in py_types:
        if t is bool:
            ok = isinstance(value, bool)
        elif t is int:  # a JSON 7.0 is an integer, as jsonschema counts; true is not
            ok = not isinstance(value, bool) and (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            )
        elif t is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if ok:
            return True
    return False


def _client_errors(cls, name, facet, facet_path, path, place):
    """Errors of a facet (under the key `name`) checked against its openlineage-python class:
    the key (_CLIENT_FACET_KEYS) and place (the class's core facet kind), then its fields.
    Every field but _producer and _schemaURL (which the core schema checks) goes into the
    class's constructor: attrs raises for a missing required field and the generated
    validators for bad values. A field the class does not have is an error (stricter than
    the spec's schemas, which allow additional properties), and so is a value whose type
    is not the str/int/bool/float its attrs field is annotated with, which attrs does not
    check by itself."""
    url = cls._get_schema()
    errors = []
    key = _CLIENT_FACET_KEYS.get(cls.__name__)
    if key is not None and key != name:
        errors.append("%s: the facet of schema %s must be under the key %r, not %r" % (facet_path, url, key, name))
    all_kinds = {kind for kinds in _FACET_KINDS.values() for kind in kinds}
    kinds = {base.__name__ for base in cls.__mro__} & all_kinds
    allowed = _FACET_KINDS[place]
    if kinds and not kinds & set(allowed):
        errors.append(
            "%s: the facet of schema %s is a %s, but %s holds %ss"
            % (facet_path, url, "/".join(sorted(kinds)), path, allowed[0])
        )
    try:
        hints = typing.get_type_hints(cls)
    except Exception as e:  # an annotation the running Python cannot evaluate
        return errors + [
            "%s: cannot read the field types of openlineage-python's %s: %s" % (facet_path, cls.__name__, e)
        ]
    fields = {field.name: field for field in attr.fields(cls) if field.init}
    kwargs = {}
    for field_name, value in facet.items():
        if field_name in ("_producer", "_schemaURL"):
            continue
        field = fields.get(field_name)
        if field is None:
            errors.append(
                "%s: %r is not a field of openlineage-python's %s" % (facet_path, field_name, cls.__name__)
            )
            continue
        # attrs names a private field's constructor argument without its _ (_deleted: deleted).
        kwargs[getattr(field, "alias", None) or field_name.lstrip("_")] = value
        py_types = _scalar_types(hints.get(field_name))
        if py_types and not _fits(value, py_types):
            errors.append(
                "%s.%s: %r is not of type %s"
                % (facet_path, field_name, value, ", ".join(repr(_JSON_TYPES[t]) for t in py_types))
            )
    try:
        cls(**kwargs)
    except Exception as e:  # TypeError from attrs, ValueError and others from validators
        message = str(e)
        if len(message) > _MESSAGE_LIMIT:
            message = message[:_MESSAGE_LIMIT] + "..."
        errors.append("%s: openlineage-python's %s rejects it: %s" % (facet_path, cls.__name__, message))
    return errors


def validate_event(event, registry):
    """Errors of one run event (a dict), as "path: message" strings; [] when valid."""
    if not isinstance(event, dict):
        return ["(event): not a JSON object"]
    errors = _errors(_validator(registry, RUN_EVENT), event, "")
    for path, place, facets in _facets(event):
        for name, facet in facets.items():
            facet_path = "%s.%s" % (path, name)
            if not isinstance(facet, dict) or not isinstance(facet.get("_schemaURL"), str):
                continue  # the core schema has reported it
            url = facet["_schemaURL"]
            try:
                key, kinds = _facet_schema_info(registry, url)
            except referencing.exceptions.Unresolvable:
                cls = _client_facets().get(url)
                if cls is None:
                    errors.append("%s: unknown facet schema URL %s" % (facet_path, url))
                else:
                    errors += _client_errors(cls, name, facet, facet_path, path, place)
                continue
            if key is not None and key != name:
                errors.append(
                    "%s: the facet of schema %s must be under the key %r, not %r" % (facet_path, url, key, name)
                )
            allowed = _FACET_KINDS[place] + ("BaseFacet",)
            if kinds and not kinds & set(allowed):
                errors.append(
                    "%s: the facet of schema %s is a %s, but %s holds %ss"
                    % (facet_path, url, "/".join(sorted(kinds)), path, _FACET_KINDS[place][0])
                )
            errors += _errors(_validator(registry, url), facet, facet_path)
    # A facet's BaseFacet part is checked by both schemas; report each error once.
    return list(dict.fromkeys(errors))
