"""The model versions an archive names, and what it says of each (issue 26, item 8).

Each archived reply names its version (`model_version`: ids differ between databases); the
archive's `model_versions` list says, once per name, when that version was made, what it was
fine-tuned from (`lineage`: its parent, that one's parent, ...) and on which data. Imported
into a database that has no version of that name, a reply keeps the name and this account as
text (`messages.imported_version`, `imported_provenance`), so Details… and the next export
still say which model made it. The list is optional: archives without it import as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chatapp.store.errors import ArchiveError
from chatapp.store.models import ModelVersion

MAX_LINEAGE = 32  # ancestors kept per version (a walk up the parents ends here, or at a loop)

Provenance = dict[str, Any]  # {"created_at": ISO-8601 or None, "lineage": [names], "data": ...}


def _lineage(version: ModelVersion, by_id: dict[int, ModelVersion]) -> list[str]:
    names: list[str] = []
    seen = {version.id}
    parent = by_id.get(version.parent_id) if version.parent_id is not None else None
    while parent is not None and parent.id not in seen and len(names) < MAX_LINEAGE:
        names.append(parent.name)
        seen.add(parent.id)
        parent = by_id.get(parent.parent_id) if parent.parent_id is not None else None
    return names


def version_entries(
    session: Session, named: Iterable[tuple[str, Provenance | None]]
) -> list[dict[str, Any]]:
    """The archive's `model_versions`: one entry per name the exported replies give, from this
    database's version of that name, or else from what the reply kept when it was imported."""
    by_id = {version.id: version for version in session.scalars(select(ModelVersion))}
    by_name = {version.name: version for version in by_id.values()}
    entries: dict[str, dict[str, Any]] = {}
    for name, kept in named:
        if name in entries:
            continue
        version = by_name.get(name)
        if version is not None:
            provenance: Provenance = {
                "created_at": version.created_at.isoformat(),
                "lineage": _lineage(version, by_id),
                "data": version.data,
            }
        else:
            provenance = dict(kept or {"created_at": None, "lineage": [], "data": None})
        entries[name] = {"name": name, **provenance}
    return list(entries.values())


def check_versions(
    data: dict[str, Any], *, is_name: Any, is_time: Any, is_object: Any
) -> dict[str, Provenance]:
    """Name -> provenance from an archive's optional `model_versions`, or `ArchiveError`.

    The field checks are the archive reader's own (passed in, so both use one set of rules).
    """
    entries = data.get("model_versions", [])
    if not isinstance(entries, list):
        _fail("model_versions", "expected a list")
    provenance: dict[str, Provenance] = {}
    for index, entry in enumerate(entries):
        where = f"model_versions[{index}]"
        if not isinstance(entry, dict):
            _fail(where, "expected an object")
        name, created, lineage = entry.get("name"), entry.get("created_at"), entry.get("lineage")
        if not is_name(name):
            _fail(f"{where}.name", "expected a name")
        if name in provenance:
            _fail(f"{where}.name", f"{name!r} appears twice")
        if created is not None and not is_time(created):
            _fail(f"{where}.created_at", "expected an ISO-8601 time or null")
        if lineage is None:
            lineage = []
        if not (
            isinstance(lineage, list)
            and len(lineage) <= MAX_LINEAGE
            and all(is_name(parent) for parent in lineage)
        ):
            _fail(f"{where}.lineage", f"expected a list of at most {MAX_LINEAGE} names")
        if entry.get("data") is not None and not is_object(entry["data"]):
            _fail(f"{where}.data", "expected an object or null")
        provenance[name] = {"created_at": created, "lineage": lineage, "data": entry.get("data")}
    return provenance


def _fail(where: str, problem: str) -> None:
    raise ArchiveError(f"malformed archive: {where}: {problem}")
