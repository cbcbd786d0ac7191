"""``sites.load``: read, validate and resolve ``sites.yaml`` into an :class:`Inventory`.

Every problem is collected before anything is raised, so one run of ``thongsuot check``
lists all of them: YAML syntax, unknown keys, wrong values, dangling references, cycles,
unset environment variables. Each is located at the line the operator has to change.
"""

from __future__ import annotations

import fnmatch
import os
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ValidationError

from probes import PROBES
from probes.base import ProbeOptions
from sites.errors import (
    ConfigError,
    Loc,
    Problem,
    did_you_mean,
    one_of,
    render_path,
    short_repr,
)
from sites.inventory import Inventory
from sites.models import (
    CheckConfig,
    CheckOverride,
    Cutover,
    Datacenter,
    Defaults,
    KindDefaults,
    Maintenance,
    Province,
    Site,
    SitesFile,
    SiteTemplate,
    System,
)
from sites.parsing import expand_placeholders, is_hostname, is_ip, parse_duration, slugify
from sites.spec import CheckSpec, ElementType, Lifecycle
from sites.yamlsrc import YamlSyntaxError, locate, parse, to_plain

GATE_ROLES = frozenset({"uplink", "wan"})
"""Roles whose checks gate the rest of their element (and its children)."""

_COMMON_KEYS = tuple(CheckConfig.model_fields)
_OVERRIDE_KEYS = tuple(CheckOverride.model_fields)
_KIND_DEFAULT_KEYS = tuple(KindDefaults.model_fields)
_SECTION_ITEMS: dict[str, type[BaseModel]] = {
    "datacenters": Datacenter,
    "systems": System,
    "sites": Site,
    "cutovers": Cutover,
    "maintenance": Maintenance,
}
_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "province": Province,
    "defaults": Defaults,
    "site_template": SiteTemplate,
}
_SECTION_LABEL = {"datacenters": "data centre", "systems": "system", "sites": "site"}


def load(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Inventory:
    """Load ``sites.yaml``; raises :class:`ConfigError` listing every problem.

    ``environ`` (default ``os.environ``) supplies ``${NAME}`` values.
    """
    name = os.fspath(path)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, None, None, "", None, "file not found")]) from None
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text (byte {exc.start})"
        raise ConfigError([Problem(name, None, None, "", None, message)]) from None
    except OSError as exc:
        message = f"cannot read: {exc.strerror}"
        raise ConfigError([Problem(name, None, None, "", None, message)]) from None
    return loads(text, filename=name, environ=environ)


def loads(
    text: str, *, filename: str = "sites.yaml", environ: Mapping[str, str] | None = None
) -> Inventory:
    """Load an inventory from YAML text (``filename`` is used in messages)."""
    return _Loader(text, filename, os.environ if environ is None else environ).run()


@dataclass
class _Pending:
    problem: Problem
    subjects: list[str] = field(default_factory=list)


class _Problems:
    """Collects problems, located through the positioned tree, without duplicates."""

    def __init__(
        self,
        filename: str,
        root: Any,
        secrets: Mapping[Loc, str],
        secret_values: Mapping[Loc, str],
        quiet: Iterable[Loc] = (),
    ) -> None:
        self.filename = filename
        self.root = root
        self.secrets = secrets
        self.secret_values = secret_values
        self.quiet = frozenset(quiet)
        """Paths already reported (an unset variable): later problems there are cascades."""
        self.items: dict[tuple[str, str], _Pending] = {}

    def add(
        self,
        loc: Loc,
        message: str,
        *,
        hint: str | None = None,
        value: Any = None,
        at_key: bool = False,
        subject: str | None = None,
        first: bool = False,
    ) -> None:
        if loc in self.quiet and not first:
            return
        line, column = locate(self.root, loc, key=at_key)
        if loc in self.secrets:
            value = self.secrets[loc]
            secret = self.secret_values.get(loc, "")
            if secret:
                message = message.replace(secret, value)
                hint = hint.replace(secret, value) if hint else hint
        path = render_path(loc)
        key = (path, message)
        pending = self.items.get(key)
        if pending is None:
            pending = _Pending(Problem(self.filename, line, column, path, value, message, hint))
            self.items[key] = pending
        if subject is not None:
            pending.subjects.append(subject)

    def add_raw(self, problem: Problem) -> None:
        self.items[(f"{problem.line}:{problem.column}", problem.message)] = _Pending(problem)

    def shown(self, loc: Loc, value: Any) -> str:
        return short_repr(self.secrets.get(loc, value))

    def finish(self, all_subjects: int) -> list[Problem]:
        out = []
        for pending in self.items.values():
            problem = pending.problem
            subjects = list(dict.fromkeys(pending.subjects))
            if subjects and len(subjects) < all_subjects:
                shown = ", ".join(subjects[:5])
                if len(subjects) > 5:
                    shown += f" (+{len(subjects) - 5} more)"
                extra = f"for site(s) {shown}"
                hint = f"{problem.hint}; {extra}" if problem.hint else extra
                problem = Problem(
                    problem.file,
                    problem.line,
                    problem.column,
                    problem.path,
                    problem.value,
                    problem.message,
                    hint,
                )
            out.append(problem)
        return out

    def __bool__(self) -> bool:
        return bool(self.items)


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            preferred = [
                a
                for a in members
                if (isinstance(a, type) and issubclass(a, BaseModel))
                or typing.get_origin(a) in (list, dict)
                or typing.get_origin(a) is typing.Annotated
            ]
            tp = (preferred or members)[0]
        else:
            return tp


def _model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class whose keys live at ``loc`` below ``model`` (for key hints)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(part) if isinstance(part, str) else None
            if info is None:
                return None
            tp = info.annotation
        elif typing.get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _child(node: Any, part: str | int) -> tuple[bool, Any]:
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _clean_loc(data: Any, loc: Sequence[str | int], error_type: str) -> tuple[Loc, Any]:
    """Drop pydantic's union-branch and validator labels from ``loc``; return the value."""
    node = data
    out: list[str | int] = []
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        found, child = _child(node, part)
        if found:
            node = child
            out.append(part)
        elif isinstance(node, dict) and last and error_type in ("missing", "extra_forbidden"):
            out.append(part)
            node = None
        else:
            break
    return tuple(out), node


def _first_sentence(text: str | None) -> str | None:
    if not text:
        return None
    paragraph = text.strip().split("\n\n")[0].replace("\n", " ").replace("``", "")
    return re.split(r"(?<=[a-z)])\.\s+(?=[A-Z])", paragraph)[0].rstrip(".")


def _report_validation(
    problems: _Problems,
    exc: ValidationError,
    data: Any,
    prefix: Loc,
    model: type[BaseModel] | None,
    *,
    subject: str | None = None,
    locs: Callable[[Loc], Loc] | None = None,
    extra_hint: Callable[[str, Loc], str | None] | None = None,
    missing: str = "missing required key '{key}'",
) -> None:
    """Turn pydantic errors into located problems in the user's words."""
    seen: set[Loc] = set()
    for error in exc.errors(include_url=False):
        kind = error["type"]
        rel, value = _clean_loc(data, error["loc"], kind)
        if rel in seen:
            continue
        seen.add(rel)
        loc = locs(rel) if locs else (*prefix, *rel)
        hint: str | None = None
        at_key = False
        message = str(error["msg"]).removeprefix("Value error, ")
        if kind == "extra_forbidden":
            key = str(rel[-1])
            owner = _model_at(model, rel[:-1]) if model else None
            valid = list(owner.model_fields) if owner else []
            message = f"unknown key '{key}'"
            hint = did_you_mean(key, valid) or (one_of(valid) if valid else None)
            at_key = True
        elif kind == "missing":
            key = str(rel[-1]) if rel else "?"
            owner = _model_at(model, rel[:-1]) if model else None
            info = owner.model_fields.get(key) if owner else None
            message = missing.format(key=key)
            hint = _first_sentence(info.description) if info else None
        elif kind in ("literal_error", "enum"):
            expected = str(error.get("ctx", {}).get("expected", ""))
            choices = [c.strip().strip("'") for c in expected.replace(" or ", ",").split(",")]
            choices = [c for c in choices if c]
            message = f"{problems.shown(loc, value)} is not allowed"
            hint = (
                did_you_mean(str(value), choices) if isinstance(value, str) else None
            ) or one_of(choices)
        elif kind == "string_pattern_mismatch" and rel and rel[-1] == "id":
            message = f"{problems.shown(loc, value)} is not a valid id"
            suggestion = slugify(value) if isinstance(value, str) else ""
            hint = "use lowercase ASCII letters, digits and '-'"
            if suggestion and suggestion != value:
                hint += f", e.g. '{suggestion}'"
        elif kind == "string_pattern_mismatch":
            message = f"{problems.shown(loc, value)} is not a valid name"
            hint = "use ASCII letters, digits, '-' and '.'"
        elif kind == "timezone_aware":
            message = f"{problems.shown(loc, value)} has no UTC offset"
            hint = "write e.g. 2025-06-30T17:00:00+07:00"
        elif not isinstance(value, dict | list) and value is not None:
            shown = problems.shown(loc, value)
            if shown not in message:
                message = f"{message}, got {shown}"
        if extra_hint is not None:
            more = extra_hint(kind, rel)
            if more:
                hint = f"{hint}; {more}" if hint else more
        problems.add(loc, message, hint=hint, value=value, at_key=at_key, subject=subject)


@dataclass
class _Element:
    id: str
    type: ElementType
    name: str
    model: Datacenter | System | Site | None
    """None for an element that failed validation (only its checks are examined)."""
    loc: Loc
    datacenter: str | None
    site: str | None
    lifecycle: Lifecycle
    context: dict[str, str]
    depends_on: list[tuple[str, Loc]] = field(default_factory=list)


@dataclass
class _Draft:
    id: str
    local_id: str
    name: str
    kind: str
    options: ProbeOptions
    element: _Element
    role: str | None
    lifecycle: Lifecycle
    interval: float
    retry_interval: float
    fail_after: int
    recover_after: int
    behind_gate: bool
    explicit: list[tuple[str, Loc]]
    loc: Loc
    subject: str | None
    deps: list[str] = field(default_factory=list)


@dataclass
class _Source:
    """Where a check's pieces come from, for locating problems."""

    config: CheckConfig
    loc: Loc
    override: CheckOverride | None = None
    override_loc: Loc = ()
    extra_context: dict[str, str] = field(default_factory=dict)
    id_suffix: str = ""
    default_lifecycle: Lifecycle | None = None
    subject: str | None = None


def _seconds_fields(options: type[ProbeOptions]) -> frozenset[str]:
    """Float options documented in seconds also accept durations ("5s", "1m")."""
    names = set()
    for name, info in options.model_fields.items():
        base = _unwrap(info.annotation)
        if base is float and "second" in (info.description or "").lower():
            names.add(name)
    return frozenset(names)


_SECONDS = {kind: _seconds_fields(cls.Options) for kind, cls in PROBES.items()}
_HOST_FIELDS = ("host", "server")


def _valid_host(value: str) -> bool:
    return is_ip(value) or is_hostname(value)


class _Loader:
    def __init__(self, text: str, filename: str, environ: Mapping[str, str]) -> None:
        self.text = text
        self.filename = filename
        self.environ = environ
        self.elements: dict[str, _Element] = {}
        self.invalid_ids: set[str] = set()
        self.drafts: dict[str, _Draft] = {}
        self.site_count = 0
        self.origin: dict[str, list[int]] = {}
        self.failed_sections: set[str] = set()
        self.partial: list[tuple[str, int, str, dict[str, Any]]] = []
        self.attempted: set[str] = set()
        """Ids of every check written, including those that failed validation."""

    def run(self) -> Inventory:
        try:
            source = parse(self.text)
        except YamlSyntaxError as exc:
            problem = Problem(self.filename, exc.line, exc.column, "", None, exc.message)
            raise ConfigError([problem]) from None
        plain = to_plain(source.root, self.environ)
        self.problems = problems = _Problems(
            self.filename,
            source.root,
            plain.secret_paths,
            plain.secret_values,
            [loc for loc, _ in plain.missing_env] + [loc for loc, _ in plain.malformed_env],
        )
        for dup in source.duplicates:
            problems.add_raw(
                Problem(
                    self.filename,
                    dup.line,
                    dup.column,
                    render_path(dup.path),
                    dup.key,
                    f"duplicate key '{dup.key}'",
                    f"first given at line {dup.first_line}; only the first is used",
                )
            )
        for loc, name in plain.missing_env:
            problems.add(
                loc,
                f"environment variable {name} is not set",
                hint=f"export {name}=… or write ${{{name}:-default}}",
                first=True,
            )
        for loc, expr in plain.malformed_env:
            problems.add(
                loc, f"cannot read {expr}", hint="write ${NAME} or ${NAME:-default}", first=True
            )
        data = plain.data
        if not isinstance(data, dict):
            problems.add((), "the file must be a mapping with province:, datacenters:, sites: …")
            raise ConfigError(problems.finish(0))
        config = self._validate_sections(data)
        self._build(config)
        if problems:
            raise ConfigError(problems.finish(self.site_count))
        return Inventory(
            path=self.filename,
            config=config,
            checks={d.id: self._spec(d) for d in self.drafts.values()},
            cutover_checks=self.cutover_checks,
            maintenance_checks=self.maintenance_checks,
            warnings=tuple(self._warnings(config)),
        )

    def _validate_sections(self, data: dict[str, Any]) -> SitesFile:
        """Validate each section, and each list item on its own, so that one bad site does
        not hide the problems of the others. Failed parts are replaced by neutral stand-ins
        (and remembered) so that the cross-checks can still run."""
        problems = self.problems
        fields = SitesFile.model_fields
        for key in data:
            if key not in fields:
                problems.add(
                    (key,),
                    f"unknown key '{key}'",
                    hint=did_you_mean(str(key), fields) or one_of(list(fields)),
                    at_key=True,
                )
        values: dict[str, Any] = {}
        if data.get("version", 1) != 1:
            problems.add(("version",), f"unsupported version {data['version']!r}", hint="use 1")
        for key in ("province", "datacenters"):
            if key not in data:
                problems.add((), f"missing required key '{key}'", hint=fields[key].description)
        for key, model in _SECTION_MODELS.items():
            raw = data.get(key)
            if raw is None and key != "province":
                continue
            try:
                values[key] = model.model_validate(raw)
            except ValidationError as exc:
                if raw is not None:
                    _report_validation(problems, exc, raw, (key,), model)
                self.failed_sections.add(key)
        if "province" not in values:
            values["province"] = Province(name="?", domain="invalid")
        for key, model in _SECTION_ITEMS.items():
            raw = data.get(key)
            self.origin[key] = []
            values[key] = []
            if raw is None:
                continue
            if not isinstance(raw, list):
                label = _SECTION_LABEL.get(key, key.rstrip("s"))
                problems.add(
                    (key,),
                    f"expected a list of {key}, got {type(raw).__name__}",
                    hint=f"write each {label} as an item starting with '- '",
                )
                continue
            for index, item in enumerate(raw):
                try:
                    values[key].append(model.model_validate(item))
                    self.origin[key].append(index)
                except ValidationError as exc:
                    _report_validation(problems, exc, item, (key, index), model)
                    self._remember_invalid(key, index, item)
        if not data.get("datacenters") and isinstance(data.get("datacenters"), list):
            problems.add(("datacenters",), "at least one data centre is needed")
        return SitesFile.model_construct(**values)

    def _remember_invalid(self, section: str, index: int, item: Any) -> None:
        """Ids of items that failed validation, so references to them are not also reported;
        their checks are still validated (see :meth:`_build_partial`)."""
        if not isinstance(item, dict):
            return
        item_id = item.get("id")
        if not isinstance(item_id, str) and isinstance(item.get("name"), str):
            item_id = slugify(item["name"])
        if isinstance(item_id, str):
            self.invalid_ids.add(item_id)
            if section in _SECTION_LABEL:
                self.partial.append((section, index, item_id, item))

    def _build(self, config: SitesFile) -> None:
        self.config = config
        self.site_count = len(config.sites)
        self._check_kind_defaults(config.defaults)
        self._register_elements(config)
        template_ids = self._check_template(config.site_template)
        for element in list(self.elements.values()):
            self._build_element(element, config, template_ids)
        self._build_partial()
        self._resolve_dependencies()
        self._find_cycles()
        self.cutover_checks = self._resolve_cutovers(config.cutovers)
        self.maintenance_checks = self._resolve_maintenance(config.maintenance)

    def _check_kind_defaults(self, defaults: Defaults) -> None:
        for kind, kd in defaults.kinds.items():
            loc: Loc = ("defaults", "kinds", kind)
            if kind not in PROBES:
                self.problems.add(
                    loc,
                    f"unknown probe kind '{kind}'",
                    hint=did_you_mean(kind, PROBES) or one_of(sorted(PROBES)),
                    at_key=True,
                )
                continue
            fields = PROBES[kind].Options.model_fields
            for key in kd.model_extra or {}:
                if key not in fields:
                    valid = [*_KIND_DEFAULT_KEYS, *fields]
                    self.problems.add(
                        (*loc, key),
                        f"unknown key '{key}' for kind '{kind}'",
                        hint=did_you_mean(key, valid) or one_of(valid),
                        at_key=True,
                    )

    def _register_elements(self, config: SitesFile) -> None:
        problems = self.problems
        province = config.province
        first_seen: dict[str, Loc] = {}
        dc_ids = [dc.id for dc in config.datacenters]
        dc_by_province: dict[str, str] = {}
        for dc in config.datacenters:
            dc_by_province.setdefault(dc.former_province, dc.id)
        groups: list[tuple[str, Sequence[Datacenter | System | Site]]] = [
            ("datacenters", config.datacenters),
            ("systems", config.systems),
            ("sites", config.sites),
        ]
        for section, items in groups:
            for position, item in enumerate(items):
                loc: Loc = (section, self.origin[section][position])
                if item.id in first_seen:
                    line, _ = locate(self.problems.root, (*first_seen[item.id], "id"))
                    problems.add(
                        (*loc, "id"),
                        f"duplicate id '{item.id}'",
                        hint=f"first used at line {line}; ids of data centres, systems and "
                        "sites share one namespace",
                    )
                    continue
                first_seen[item.id] = loc
                base = {
                    "domain": province.domain,
                    "province": province.name,
                    "id": item.id,
                    "slug": item.id,
                    "name": item.name,
                }
                if isinstance(item, Datacenter):
                    base |= {"former_province": item.former_province, "location": item.location}
                    element = _Element(
                        item.id,
                        ElementType.DATACENTER,
                        item.name,
                        item,
                        loc,
                        item.id,
                        None,
                        item.lifecycle,
                        base,
                    )
                elif isinstance(item, System):
                    if item.datacenter not in dc_ids:
                        problems.add(
                            (*loc, "datacenter"),
                            f"unknown data centre '{item.datacenter}'",
                            hint=did_you_mean(item.datacenter, dc_ids) or one_of(dc_ids),
                        )
                    base |= {"datacenter": item.datacenter, "category": item.category}
                    element = _Element(
                        item.id,
                        ElementType.SYSTEM,
                        item.name,
                        item,
                        loc,
                        item.datacenter,
                        None,
                        item.lifecycle,
                        base,
                        [(ref, (*loc, "depends_on", i)) for i, ref in enumerate(item.depends_on)],
                    )
                else:
                    datacenter = self._site_datacenter(item, loc, dc_ids, dc_by_province)
                    base |= {
                        "kind": item.kind,
                        "former_province": item.former_province,
                        "datacenter": datacenter or "",
                    }
                    element = _Element(
                        item.id,
                        ElementType.SITE,
                        item.name,
                        item,
                        loc,
                        datacenter,
                        item.id,
                        item.lifecycle,
                        base,
                    )
                self._add_vars(element, item.vars, (*loc, "vars"))
                self.elements[item.id] = element

    def _site_datacenter(
        self, site: Site, loc: Loc, dc_ids: list[str], dc_by_province: dict[str, str]
    ) -> str | None:
        if site.datacenter is not None:
            if site.datacenter not in dc_ids:
                self.problems.add(
                    (*loc, "datacenter"),
                    f"unknown data centre '{site.datacenter}'",
                    hint=did_you_mean(site.datacenter, dc_ids) or one_of(dc_ids),
                )
                return None
            return site.datacenter
        found = dc_by_province.get(site.former_province)
        if found is None:
            provinces = list(dc_by_province)
            self.problems.add(
                (*loc, "former_province"),
                f"no data centre serves former province '{site.former_province}'",
                hint=did_you_mean(site.former_province, provinces)
                or f"set datacenter: or use one of {', '.join(provinces)}",
            )
        return found

    def _add_vars(self, element: _Element, values: Mapping[str, str], loc: Loc) -> None:
        """Expand vars against the element's own fields, then add them to its context."""
        base = dict(element.context)
        for key, raw in values.items():
            expanded, unknown = expand_placeholders(raw, base)
            for name in unknown:
                self._unknown_placeholder((*loc, key), name, base)
            element.context[key] = expanded

    def _unknown_placeholder(
        self, loc: Loc, name: str, context: Mapping[str, str], subject: str | None = None
    ) -> None:
        known = sorted(context)
        hint = did_you_mean(name, known)
        listing = "known: " + ", ".join(f"{{{k}}}" for k in known)
        self.problems.add(
            loc,
            f"unknown placeholder '{{{name}}}'",
            hint=f"{hint} {listing}" if hint else listing,
            subject=subject,
        )

    def _check_template(self, template: SiteTemplate) -> list[str]:
        ids: list[str] = []
        for group in ("checks", "old_domain_checks"):
            for index, check in enumerate(getattr(template, group)):
                if check.id in ids:
                    self.problems.add(
                        ("site_template", group, index, "id"),
                        f"duplicate check id '{check.id}' in the site template",
                    )
                elif group == "checks":
                    ids.append(check.id)
        return ids

    def _build_element(self, element: _Element, config: SitesFile, template_ids: list[str]) -> None:
        model = element.model
        sources: list[_Source] = []
        if isinstance(model, Site):
            site_index = element.loc[1]
            template = config.site_template
            tvars = dict(element.context)
            for key, raw in template.vars.items():
                if key in model.vars:
                    continue
                expanded, unknown = expand_placeholders(raw, element.context)
                for name in unknown:
                    self._unknown_placeholder(
                        ("site_template", "vars", key), name, element.context, model.id
                    )
                tvars[key] = expanded
            element.context = tvars
            for key in model.overrides:
                if key not in template_ids and "site_template" not in self.failed_sections:
                    self.problems.add(
                        ("sites", site_index, "overrides", key),
                        f"the site template has no check '{key}'",
                        hint=did_you_mean(key, template_ids) or one_of(template_ids),
                        at_key=True,
                    )
            for index, check in enumerate(template.checks):
                override = model.overrides.get(check.id)
                sources.append(
                    _Source(
                        check,
                        ("site_template", "checks", index),
                        override,
                        ("sites", site_index, "overrides", check.id),
                        subject=model.id,
                    )
                )
            for index, check in enumerate(model.checks):
                if check.id in template_ids:
                    self.problems.add(
                        (*element.loc, "checks", index, "id"),
                        f"check '{check.id}' is already defined by the site template",
                        hint=f"change it under overrides: {{{check.id}: …}} instead",
                    )
                    continue
                sources.append(_Source(check, (*element.loc, "checks", index)))
            labels = [slugify(d.domain.split(".")[0]) for d in model.old_domains]
            for domain, label in zip(model.old_domains, labels, strict=True):
                domain_id = label if labels.count(label) == 1 else slugify(domain.domain)
                for index, check in enumerate(template.old_domain_checks):
                    sources.append(
                        _Source(
                            check,
                            ("site_template", "old_domain_checks", index),
                            extra_context={"old_domain": domain.domain, "old_domain_id": domain_id},
                            id_suffix=f"-{domain_id}",
                            default_lifecycle=domain.lifecycle,
                            subject=model.id,
                        )
                    )
        elif model is not None:
            sources = [
                _Source(check, (*element.loc, "checks", index))
                for index, check in enumerate(model.checks)
            ]
        for source in sources:
            self.attempted.add(f"{element.id}.{source.config.id}{source.id_suffix}")
            draft = self._build_check(element, source)
            if draft is None:
                continue
            if draft.id in self.drafts:
                self.problems.add(
                    (*source.loc, "id"),
                    f"duplicate check id '{draft.local_id}' in {element.id}",
                    subject=source.subject,
                )
                continue
            self.drafts[draft.id] = draft

    def _build_partial(self) -> None:
        """Validate the checks of elements that failed validation themselves, so their
        problems are reported in the same run. Their checks join nothing."""
        province = self.config.province
        types_ = {
            "datacenters": ElementType.DATACENTER,
            "systems": ElementType.SYSTEM,
            "sites": ElementType.SITE,
        }
        for section, index, item_id, raw in self.partial:
            checks = raw.get("checks")
            if not isinstance(checks, list):
                continue
            raw_name = raw.get("name")
            name = raw_name if isinstance(raw_name, str) else item_id
            context: dict[str, str] = {
                "domain": province.domain,
                "province": province.name,
                "id": item_id,
                "slug": item_id,
                "name": name,
            }
            raw_vars = raw.get("vars")
            if isinstance(raw_vars, dict):
                context |= {str(k): str(v) for k, v in raw_vars.items()}
            element = _Element(
                item_id,
                types_[section],
                name,
                None,
                (section, index),
                None,
                None,
                Lifecycle.ACTIVE,
                context,
            )
            for check_index, raw_check in enumerate(checks):
                loc: Loc = (section, index, "checks", check_index)
                try:
                    check = CheckConfig.model_validate(raw_check)
                except ValidationError as exc:
                    _report_validation(self.problems, exc, raw_check, loc, CheckConfig)
                    continue
                self._build_check(element, _Source(check, loc))

    def _build_check(self, element: _Element, src: _Source) -> _Draft | None:
        problems = self.problems
        cfg, ov = src.config, src.override
        subject = src.subject
        kind = cfg.kind
        if kind not in PROBES:
            problems.add(
                (*src.loc, "kind"),
                f"unknown probe kind '{kind}'",
                hint=did_you_mean(kind, PROBES) or one_of(sorted(PROBES)),
                subject=subject,
            )
            return None
        options_cls = PROBES[kind].Options
        fields = options_cls.model_fields
        context = {**element.context, **src.extra_context}
        values: dict[str, Any] = {}
        origin: dict[str, Loc] = {}
        defaults = self.config.defaults
        if defaults.timeout is not None and "timeout" in fields:
            values["timeout"], origin["timeout"] = defaults.timeout, ("defaults", "timeout")
        kind_defaults = defaults.kinds.get(kind)
        if kind_defaults is not None:
            for key, value in (kind_defaults.model_extra or {}).items():
                if key in fields:
                    values[key], origin[key] = value, ("defaults", "kinds", kind, key)
        ok = True
        layers: list[tuple[BaseModel, Loc, tuple[str, ...], bool]] = [
            (cfg, src.loc, _COMMON_KEYS, True)
        ]
        if ov is not None:
            layers.append((ov, src.override_loc, _OVERRIDE_KEYS, False))
        for layer, loc, common, is_template in layers:
            extras = dict(layer.model_extra or {})
            nested: dict[str, Any] = getattr(layer, "options", {})
            for key, value in [*extras.items(), *nested.items()]:
                key_loc = (*loc, key) if key in extras else (*loc, "options", key)
                if key in extras and key in nested:
                    problems.add(
                        key_loc,
                        f"option '{key}' is given twice (here and under options:)",
                        subject=subject if is_template else None,
                    )
                if key not in fields:
                    valid = [*common, *fields] if key in extras else list(fields)
                    hint = did_you_mean(key, valid) or (
                        f"{one_of(list(common))}; options of kind '{kind}': " + ", ".join(fields)
                    )
                    problems.add(
                        key_loc,
                        f"unknown key '{key}'" if key in extras else f"unknown option '{key}'",
                        hint=hint,
                        at_key=True,
                        subject=subject if is_template else None,
                    )
                    ok = False
                    continue
                values[key], origin[key] = value, key_loc
        seconds = _SECONDS.get(kind, frozenset())
        for key in list(values):
            expanded = self._expand(values[key], origin[key], context, subject)
            if expanded is None:
                ok = False
                continue
            if key in seconds and isinstance(expanded, str):
                try:
                    expanded = parse_duration(expanded)
                except ValueError as exc:
                    problems.add(origin[key], str(exc), subject=subject)
                    ok = False
                    continue
            values[key] = expanded
        local_id = cfg.id + src.id_suffix
        if not ok:
            return None
        try:
            options = options_cls.model_validate(values)
        except ValidationError as exc:

            def relocate(rel: Loc) -> Loc:
                if rel and rel[0] in origin:
                    return (*origin[str(rel[0])], *rel[1:])
                return src.loc

            def extra_hint(error_type: str, rel: Loc) -> str | None:
                if error_type == "missing" and kind == "dns" and rel == ("name",):
                    return (
                        "give the name to look up under options: {name: …}, since name: is "
                        "the check's label"
                    )
                return None

            _report_validation(
                problems,
                exc,
                values,
                src.loc,
                options_cls,
                subject=subject,
                locs=relocate,
                extra_hint=extra_hint,
                missing=f"missing required option '{{key}}' for kind '{kind}'",
            )
            return None
        if not self._semantic_options(kind, options, origin, src):
            return None
        kd = kind_defaults or KindDefaults()

        def pick(name: str) -> Any:
            for layer in (ov, cfg, kd):
                value = getattr(layer, name, None) if layer is not None else None
                if value is not None:
                    return value
            return getattr(defaults, name)

        label = cfg.name
        if ov is not None and ov.name is not None:
            label = ov.name
        if label is not None:
            expanded_label = self._expand(label, (*src.loc, "name"), context, subject)
            label = expanded_label if isinstance(expanded_label, str) else label
        role = ov.role if ov is not None and ov.role is not None else cfg.role
        lifecycle = (ov.lifecycle if ov is not None else None) or cfg.lifecycle
        lifecycle = lifecycle or src.default_lifecycle or element.lifecycle
        if element.lifecycle is Lifecycle.RETIRED:
            lifecycle = Lifecycle.RETIRED
        behind_gate = cfg.behind_gate
        if ov is not None and ov.behind_gate is not None:
            behind_gate = ov.behind_gate
        explicit = [(ref, (*src.loc, "depends_on", i)) for i, ref in enumerate(cfg.depends_on)]
        if ov is not None and ov.depends_on is not None:
            explicit = [
                (ref, (*src.override_loc, "depends_on", i)) for i, ref in enumerate(ov.depends_on)
            ]
        resolved_refs = []
        for ref, loc in explicit:
            text, unknown = expand_placeholders(ref, context)
            for name in unknown:
                self._unknown_placeholder(loc, name, context, subject)
            resolved_refs.append((text, loc))
        return _Draft(
            id=f"{element.id}.{local_id}",
            local_id=local_id,
            name=f"{element.name} — {label or role or local_id}",
            kind=kind,
            options=options,
            element=element,
            role=role,
            lifecycle=lifecycle,
            interval=pick("interval"),
            retry_interval=pick("retry_interval"),
            fail_after=pick("fail_after"),
            recover_after=pick("recover_after"),
            behind_gate=behind_gate,
            explicit=resolved_refs + list(element.depends_on),
            loc=src.loc,
            subject=subject,
        )

    def _expand(self, value: Any, loc: Loc, context: Mapping[str, str], subject: str | None) -> Any:
        """Fill placeholders in strings (recursively); None when one is unknown."""
        if isinstance(value, str):
            text, unknown = expand_placeholders(value, context)
            for name in unknown:
                self._unknown_placeholder(loc, name, context, subject)
            return None if unknown else text
        if isinstance(value, list):
            items = [self._expand(v, (*loc, i), context, subject) for i, v in enumerate(value)]
            return (
                None
                if any(i is None and v is not None for i, v in zip(items, value, strict=True))
                else items
            )
        if isinstance(value, dict):
            out = {k: self._expand(v, (*loc, k), context, subject) for k, v in value.items()}
            return None if any(out[k] is None and value[k] is not None for k in value) else out
        return value

    def _semantic_options(
        self, kind: str, options: ProbeOptions, origin: Mapping[str, Loc], src: _Source
    ) -> bool:
        """What the option types cannot say: URLs must be URLs, hosts must be hosts."""
        ok = True
        url = getattr(options, "url", None)
        if isinstance(url, str):
            parts = urlsplit(url)
            try:
                parts.port  # noqa: B018 - raises on a bad port
                port_ok = True
            except ValueError:
                port_ok = False
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or not port_ok
                or any(c.isspace() for c in url)
            ):
                self.problems.add(
                    origin.get("url", src.loc),
                    f"{self.problems.shown(origin.get('url', src.loc), url)} is not an http(s) URL",
                    hint="write e.g. https://ninh-kieu.cantho.gov.vn/",
                    subject=src.subject,
                )
                ok = False
        for name in _HOST_FIELDS:
            host = getattr(options, name, None)
            if isinstance(host, str) and not _valid_host(host):
                hint = "a host name or IP address"
                if "://" in host or "/" in host:
                    hint = f"{name} takes a name or address, not a URL"
                elif ":" in host:
                    hint = "give the port separately: port: …"
                self.problems.add(
                    origin.get(name, src.loc),
                    f"{self.problems.shown(origin.get(name, src.loc), host)} is not a valid {name}",
                    hint=hint,
                    subject=src.subject,
                )
                ok = False
        return ok

    def _gates(self, element_id: str) -> list[str]:
        return self.gates.get(element_id, [])

    def _parent(self, element: _Element) -> str | None:
        if element.type is ElementType.DATACENTER:
            return None
        return element.datacenter

    def _resolve_ref(self, ref: str, draft: _Draft, loc: Loc) -> list[str]:
        element = draft.element
        if ref in self.invalid_ids:
            return []
        if "." in ref:
            if ref in self.drafts:
                return [ref]
            if ref.split(".", 1)[0] in self.invalid_ids or ref in self.attempted:
                return []
            self._dangling(ref, loc, draft)
            return []
        local = f"{element.id}.{ref}"
        if local in self.attempted and local not in self.drafts:
            return []
        is_local = local in self.drafts
        is_element = ref in self.elements
        if is_local and is_element:
            self.problems.add(
                loc,
                f"'{ref}' is both a check of {element.id} and an element id",
                hint=f"write '{local}' for the check, or rename one of them",
                subject=draft.subject,
            )
            return []
        if is_local:
            return [local]
        if is_element:
            if ref == element.id:
                self.problems.add(
                    loc,
                    f"{draft.id} cannot depend on its own element '{ref}'",
                    subject=draft.subject,
                )
                return []
            gates = self._gates(ref)
            return gates or self._element_checks(ref)
        self._dangling(ref, loc, draft)
        return []

    def _dangling(self, ref: str, loc: Loc, draft: _Draft) -> None:
        candidates = [*self.elements, *self.attempted]
        prefix = f"{draft.element.id}."
        local = [c.removeprefix(prefix) for c in self.attempted if c.startswith(prefix)]
        self.problems.add(
            loc,
            f"unknown element or check '{ref}'",
            hint=did_you_mean(ref, [*local, *candidates])
            or "use an element id, a check id (element.check) or a check of this element",
            subject=draft.subject,
        )

    def _resolve_dependencies(self) -> None:
        self.gates: dict[str, list[str]] = {}
        gates = self.gates
        self.by_element: dict[str, list[str]] = {}
        for draft in self.drafts.values():
            self.by_element.setdefault(draft.element.id, []).append(draft.id)
            if draft.role in GATE_ROLES:
                gates.setdefault(draft.element.id, []).append(draft.id)
        self.edge_locs: dict[tuple[str, str], Loc] = {}
        for draft in self.drafts.values():
            element = draft.element
            parent = self._parent(element)
            parent_gates = gates.get(parent, []) if parent else []
            deps: list[str] = []
            if draft.role in GATE_ROLES:
                deps.extend(parent_gates)
            elif draft.behind_gate:
                deps.extend(gates.get(element.id) or parent_gates)
            for ref, loc in draft.explicit:
                for target in self._resolve_ref(ref, draft, loc):
                    self.edge_locs.setdefault((draft.id, target), loc)
                    deps.append(target)
            draft.deps = list(dict.fromkeys(deps))

    def _find_cycles(self) -> None:
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.drafts, white)
        reported: set[frozenset[str]] = set()
        for start in self.drafts:
            if color[start] != white:
                continue
            stack: list[tuple[str, int]] = [(start, 0)]
            path: list[str] = []
            color[start] = grey
            path.append(start)
            while stack:
                node, index = stack[-1]
                deps = self.drafts[node].deps
                if index < len(deps):
                    stack[-1] = (node, index + 1)
                    nxt = deps[index]
                    if color.get(nxt, black) == white:
                        color[nxt] = grey
                        path.append(nxt)
                        stack.append((nxt, 0))
                    elif color.get(nxt) == grey:
                        cycle = path[path.index(nxt) :]
                        key = frozenset(cycle)
                        if key not in reported:
                            reported.add(key)
                            self._report_cycle([*cycle, nxt])
                else:
                    color[node] = black
                    path.pop()
                    stack.pop()

    def _report_cycle(self, cycle: list[str]) -> None:
        loc: Loc | None = None
        subject = None
        for src, dst in zip(cycle, cycle[1:], strict=False):
            if (src, dst) in self.edge_locs:
                loc = self.edge_locs[(src, dst)]
                subject = self.drafts[src].subject
                break
        if loc is None:
            loc = self.drafts[cycle[0]].loc
        self.problems.add(
            loc,
            "dependency cycle: " + " → ".join(cycle),
            hint="remove one of these depends_on entries",
            subject=subject,
        )

    def _match_checks(self, ref: str, loc: Loc, *, patterns: bool = True) -> list[str] | None:
        if patterns and any(c in ref for c in "*?["):
            found = [c for c in self.drafts if fnmatch.fnmatchcase(c, ref)]
            if not found:
                self.problems.add(loc, f"pattern '{ref}' matches no check")
            return found
        if ref in self.drafts:
            return [ref]
        return None

    def _element_checks(self, element_id: str) -> list[str]:
        return list(self.by_element.get(element_id, []))

    def _resolve_refs(
        self,
        refs: Iterable[tuple[str, Loc]],
        *,
        systems_only: bool = False,
        checks_only: bool = False,
    ) -> list[str]:
        out: list[str] = []
        system_ids = [e for e, el in self.elements.items() if el.type is ElementType.SYSTEM]
        for ref, loc in refs:
            if ref in self.invalid_ids:
                continue
            if systems_only:
                element = self.elements.get(ref)
                if element is None:
                    self.problems.add(
                        loc,
                        f"unknown system '{ref}'",
                        hint=did_you_mean(ref, system_ids) or one_of(system_ids),
                    )
                elif element.type is not ElementType.SYSTEM:
                    self.problems.add(
                        loc,
                        f"'{ref}' is a {element.type.value}, not a system",
                        hint="list it under elements: instead",
                    )
                else:
                    out.extend(self._element_checks(ref))
                continue
            if not checks_only and ref in self.elements:
                out.extend(self._element_checks(ref))
                continue
            found = self._match_checks(ref, loc)
            if found is None:
                pool = list(self.drafts) if checks_only else [*self.elements, *self.drafts]
                what = "check" if checks_only else "element or check"
                self.problems.add(
                    loc,
                    f"unknown {what} '{ref}'",
                    hint=did_you_mean(ref, pool)
                    or "use a check id (element.check) or a pattern like '*.wan'",
                )
                continue
            out.extend(found)
        order = {c: i for i, c in enumerate(self.drafts)}
        return sorted(dict.fromkeys(out), key=order.__getitem__)

    def _resolve_cutovers(self, cutovers: list[Cutover]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for position, cutover in enumerate(cutovers):
            loc: Loc = ("cutovers", self.origin["cutovers"][position])
            if cutover.id in out:
                self.problems.add((*loc, "id"), f"duplicate cutover id '{cutover.id}'")
                continue
            if not (cutover.systems or cutover.elements or cutover.checks):
                self.problems.add(
                    loc,
                    f"cutover '{cutover.id}' names no systems, elements or checks",
                    hint="list what must not be interrupted under systems:, elements: or checks:",
                )
            found = self._resolve_refs(
                [(r, (*loc, "systems", i)) for i, r in enumerate(cutover.systems)],
                systems_only=True,
            )
            found += self._resolve_refs(
                [(r, (*loc, "elements", i)) for i, r in enumerate(cutover.elements)]
            )
            found += self._resolve_refs(
                [(r, (*loc, "checks", i)) for i, r in enumerate(cutover.checks)], checks_only=True
            )
            out[cutover.id] = tuple(dict.fromkeys(found))
        return out

    def _resolve_maintenance(self, windows: list[Maintenance]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for position, window in enumerate(windows):
            loc: Loc = ("maintenance", self.origin["maintenance"][position])
            if window.id in out:
                self.problems.add((*loc, "id"), f"duplicate maintenance id '{window.id}'")
                continue
            out[window.id] = tuple(
                self._resolve_refs(
                    [(r, (*loc, "elements", i)) for i, r in enumerate(window.elements)]
                )
            )
        return out

    def _spec(self, draft: _Draft) -> CheckSpec:
        element = draft.element
        return CheckSpec(
            id=draft.id,
            name=draft.name,
            kind=draft.kind,
            options=draft.options,
            element=element.id,
            element_type=element.type,
            datacenter=element.datacenter,
            site=element.site,
            role=draft.role,
            lifecycle=draft.lifecycle,
            interval=draft.interval,
            retry_interval=draft.retry_interval,
            fail_after=draft.fail_after,
            recover_after=draft.recover_after,
            depends_on=tuple(draft.deps),
        )

    def _warnings(self, config: SitesFile) -> list[str]:
        out: list[str] = []
        parts = []
        for label, items in (
            ("sites", config.sites),
            ("data centres", config.datacenters),
            ("systems", config.systems),
        ):
            count = sum(1 for item in items if item.example)
            if count:
                parts.append(f"{count} {label}")
        if config.site_template.example:
            parts.append("the site template")
        if parts:
            out.append(
                f"{', '.join(parts)} use example addresses (example: true): "
                "replace them before production"
            )
        unverified = [s.id for s in config.sites if not s.name_verified]
        if unverified:
            out.append(
                f"{len(unverified)} site names are unverified (name_verified: false): "
                + ", ".join(unverified)
            )
        gates = {d.element.id for d in self.drafts.values() if d.role in GATE_ROLES}
        for dc in config.datacenters:
            if dc.id not in gates:
                out.append(
                    f"data centre {dc.id} has no check with role 'uplink': its sites and "
                    "systems sit behind nothing"
                )
        missing_wan = [s.id for s in config.sites if s.id not in gates]
        if missing_wan:
            out.append(
                f"{len(missing_wan)} sites have no check with role 'wan' (e.g. "
                f"{missing_wan[0]}): their checks are not grouped behind their WAN link"
            )
        return out
