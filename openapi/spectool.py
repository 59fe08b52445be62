"""Derive the served spec from the upstream contract in openapi/upstream/; take in updates.

Run as a module from the repository's root, `python -m openapi.spectool COMMAND`
(the Makefile's spec targets do).  Commands:

- ``build``: merge overlay.yaml into upstream/served-operations.yaml and write
  openapi.yaml.  Offline: it reads only files of the repository.
- ``check``: fail when openapi.yaml is not what ``build`` writes, when the extract no
  longer matches the digests upstream.json records, or when the overlay breaks an
  upstream operation.
- ``update SOURCE``: read a full upstream document (URL or path), report what changed
  for the served operations (see rules.py for the rules), and on success rewrite
  upstream/, upstream.json and openapi.yaml.  Breaking changes, and an overlay that no
  longer applies, leave every file as it was (``--allow-breaking`` takes breaking
  changes in anyway).
- ``diff OLD NEW``: the same report for two full upstream documents; writes nothing.

Exit status: 0 done, 1 refused or a check failed, 2 unusable input.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import yaml

from openapi.change_report import DocumentSummary, render_report
from openapi.contract_diff import operation_changes, other_operations
from openapi.extraction import (
    Json,
    SpecError,
    extract,
    load_document,
    missing_operations,
    operation_digests,
    read_source,
    served_operation_keys,
    strip_prose,
)
from openapi.overlay import apply_overlay, compatibility_problems
from sysinfo_contract.refs import RefError

HERE = Path(__file__).resolve().parent
OVERLAY = HERE / "overlay.yaml"
SPEC = HERE / "openapi.yaml"
EXTRACT = HERE / "upstream" / "served-operations.yaml"
RECORD = HERE / "upstream.json"


def validate(spec: Json) -> None:
    from openapi_spec_validator import validate as validate_spec

    validate_spec(spec)


def validation_problem(spec: Json, what: str) -> list[str]:
    try:
        validate(spec)
    except Exception as err:  # the validator raises many kinds; each is a finding
        return [f"{what} is invalid: {type(err).__name__}: {str(err)[:300]}"]
    return []


def derive(extracted: Json) -> Json:
    """The served spec: the upstream extract with the overlay merged in."""
    overlay = yaml.safe_load(OVERLAY.read_text(encoding="utf-8"))
    return apply_overlay(extracted, overlay)


def render(spec: Json) -> str:
    header = (
        "# Derived by `make spec` from upstream/served-operations.yaml (the upstream InfluxDB\n"
        "# OSS v2 operations served here, see upstream.json) plus overlay.yaml. Do not edit:\n"
        "# change overlay.yaml and rerun `make spec`.\n"
    )
    return header + yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def render_extract(extracted: Json, licence: str) -> str:
    header = (
        "# The operations this project serves, exactly as the upstream InfluxDB OSS v2\n"
        f"# OpenAPI document defines them (InfluxData, {licence} licence), without upstream's\n"
        "# prose. Written by `make spec-update`; provenance in openapi/upstream.json.\n"
        "# Do not edit.\n"
    )
    return header + yaml.safe_dump(extracted, sort_keys=False, allow_unicode=True, width=100)


def render_record(record: Json) -> str:
    return json.dumps(record, indent=2) + "\n"


def make_record(doc: Json, raw: bytes, url: str) -> Json:
    return {
        "url": url,
        "retrieved": datetime.datetime.now(datetime.UTC).date().isoformat(),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "licence": doc["info"].get("license", {}).get("name", "unknown"),
        "openapi": doc["openapi"],
        "info_version": doc["info"]["version"],
        "served_operations": served_operation_keys(doc),
        "operation_digests": operation_digests(doc),
    }


def read_committed() -> tuple[Json, Json]:
    """The committed extract and provenance record."""
    try:
        extracted = yaml.safe_load(EXTRACT.read_text(encoding="utf-8"))
        record = json.loads(RECORD.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise SpecError(f"cannot read the committed upstream contract: {err}") from err
    return extracted, record


def digest_problems(extracted: Json, record: Json) -> list[str]:
    """Whether the extract is still what was taken from the recorded upstream document."""
    expected = {
        key: record["operation_digests"].get(key) for key in record["served_operations"].values()
    }
    actual = {key: operation_digests(extracted).get(key) for key in expected}
    if served_operation_keys(extracted) != record["served_operations"] or actual != expected:
        return [
            f"{EXTRACT.relative_to(HERE.parent)} is not the extract of the document "
            f"{RECORD.name} records: do not edit it, take upstream in with `make spec-update`"
        ]
    return []


def build() -> int:
    extracted, _ = read_committed()
    spec = derive(extracted)
    problems = validation_problem(spec, "the derived spec")
    if problems:
        return report_problems(problems)
    SPEC.write_text(render(spec), encoding="utf-8")
    print(f"wrote {SPEC.relative_to(HERE.parent)} from {EXTRACT.relative_to(HERE.parent)}")
    return report_problems(compatibility_problems(extracted, spec))


def check() -> int:
    extracted, record = read_committed()
    spec = derive(extracted)
    # The extract alone is not valid OpenAPI (responses lose their required description
    # with the prose); the derived spec, with the project's descriptions, must be.
    problems = validation_problem(spec, "the derived spec")
    problems += digest_problems(extracted, record)
    if not SPEC.exists() or SPEC.read_text(encoding="utf-8") != render(spec):
        problems.append(f"{SPEC.name} is not what `make spec` produces")
    if SPEC.exists():
        committed = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
        invalid = validation_problem(committed, f"committed {SPEC.name}")
        problems += invalid or [
            f"committed spec: {p}" for p in compatibility_problems(extracted, committed)
        ]
    return report_problems(problems)


def report_problems(problems: list[str]) -> int:
    for problem in problems:
        print(f"spectool: {problem}", file=sys.stderr)
    if problems:
        print("spectool: fix: edit openapi/overlay.yaml, then `make spec`", file=sys.stderr)
        return 1
    return 0


def summary(label: str, doc: Json, raw: bytes) -> DocumentSummary:
    return DocumentSummary(
        label, hashlib.sha256(raw).hexdigest(), doc["openapi"], doc["info"]["version"]
    )


def compare(
    old_extract: Json,
    old_digests: dict[str, str],
    old_summary: DocumentSummary,
    new_doc: Json,
    new_summary: DocumentSummary,
) -> tuple[str, bool, Json | None]:
    """(report, whether breaking, the new extract or None when an operation is missing)."""
    new_extract = None if missing_operations(new_doc) else strip_prose(extract(new_doc))
    served = yaml.safe_load(SPEC.read_text(encoding="utf-8")) if SPEC.exists() else None
    operations = operation_changes(old_extract, new_extract or strip_prose(new_doc), served)
    served_keys = set(served_operation_keys(old_extract).values())
    served_keys |= set(served_operation_keys(new_doc).values())
    others = other_operations(old_digests, operation_digests(new_doc), served_keys)
    report = render_report(old_summary, new_summary, operations, others)
    return report, any(op.breaking for op in operations), new_extract


def update(source: str, url: str | None, allow_breaking: bool) -> int:
    old_extract, record = read_committed()
    raw = read_source(source)
    new_doc = load_document(raw, source)
    old_summary = DocumentSummary(
        record["url"], record["sha256"], record["openapi"], record["info_version"]
    )
    new_summary = summary(source, new_doc, raw)
    report, breaking, new_extract = compare(
        old_extract, record["operation_digests"], old_summary, new_doc, new_summary
    )
    print(report, end="")
    if new_extract is None:
        missing = ", ".join(missing_operations(new_doc))
        return refuse(f"upstream no longer defines {missing}, which this service serves")
    spec = derive(new_extract)
    problems = validation_problem(spec, "the derived spec")
    if not problems:
        problems = compatibility_problems(new_extract, spec)
    if problems:
        for problem in problems:
            print(f"spectool: {problem}", file=sys.stderr)
        return refuse("overlay.yaml no longer applies to this upstream document: edit it and rerun")
    if breaking and not allow_breaking:
        return refuse("breaking changes (ALLOW_BREAKING=1 takes them in anyway)")
    is_url = source.startswith(("https://", "http://"))
    new_record = make_record(new_doc, raw, source if is_url else url or Path(source).name)
    write_atomically(
        {
            EXTRACT: render_extract(new_extract, new_record["licence"]),
            RECORD: render_record(new_record),
            SPEC: render(spec),
        }
    )
    print("Updated openapi/upstream/, openapi/upstream.json and openapi/openapi.yaml;")
    print("next: `make generate`, then review `git diff` and adapt impl/ where needed.")
    return 0


def refuse(reason: str) -> int:
    print(f"spectool: refused: {reason}; no file changed", file=sys.stderr)
    return 1


def write_atomically(files: dict[Path, str]) -> None:
    """Write every file, or (short of a crash between renames) none."""
    staged = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                out.write(text)
            # mkstemp makes the file private; the repository's files are not.
            os.chmod(temporary, path.stat().st_mode & 0o777 if path.exists() else 0o644)
            staged.append((temporary, path))
        for temporary, path in staged:
            os.replace(temporary, path)
    finally:
        for temporary, _ in staged:
            if os.path.exists(temporary):
                os.unlink(temporary)


def diff(old_source: str, new_source: str) -> int:
    old_raw, new_raw = read_source(old_source), read_source(new_source)
    old_doc, new_doc = load_document(old_raw, old_source), load_document(new_raw, new_source)
    report, breaking, _ = compare(
        strip_prose(extract(old_doc)),
        operation_digests(old_doc),
        summary(old_source, old_doc, old_raw),
        new_doc,
        summary(new_source, new_doc, new_raw),
    )
    print(report, end="")
    return 1 if breaking else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("build", help="write openapi.yaml from upstream/ and overlay.yaml")
    commands.add_parser("check", help="fail when openapi/ is stale or inconsistent")
    take_in = commands.add_parser("update", help="take in a newer full upstream document")
    take_in.add_argument("source", help="URL or path of the full upstream document")
    take_in.add_argument("--url", help="where a local copy was downloaded from (recorded)")
    take_in.add_argument("--allow-breaking", action="store_true")
    compare_two = commands.add_parser("diff", help="report changes between two full documents")
    compare_two.add_argument("old")
    compare_two.add_argument("new")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            return build()
        if args.command == "check":
            return check()
        if args.command == "update":
            return update(args.source, args.url, args.allow_breaking)
        return diff(args.old, args.new)
    except (SpecError, RefError) as err:
        print(f"spectool: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
