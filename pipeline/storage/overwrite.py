"""Replace what a filter selects with new data files as ONE snapshot of a table.

pyiceberg's `Transaction.delete` then `add_files` commit a replace as two snapshots (a delete, then an
append). A transaction re-applies its staged updates and deep-copies the table's whole metadata at
each read of it (about 40 per such commit in pyiceberg 0.12, each costing more as snapshots
accumulate until expiry), and a second snapshot producer doubles the reads. One overwrite snapshot
(the operation pyiceberg's own copy-on-write delete commits) names the files it drops and the ones it
adds, and a reader sees the replace as one step of the table's history; a new partition is a plain
append.

Only filters on identity-partition columns are replaced this way: such a filter selects whole files, so
the files a scan plans under it are exactly the ones to drop. Any other filter (none today) keeps
pyiceberg's delete, which rewrites the files it only partly selects. And an overwrite adds a manifest
without merging (only pyiceberg's merge-append merges): a commit that would bring the table to its
merge threshold (`merge_due`) goes the two-snapshot way, whose append merges them.
"""

from __future__ import annotations

from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    Not,
    Or,
    UnboundPredicate,
)
from pyiceberg.io.pyarrow import parquet_files_to_data_files
from pyiceberg.table import Table, TableProperties, Transaction
from pyiceberg.transforms import IdentityTransform


def columns_of(where: BooleanExpression) -> set[str] | None:
    """The column names `where` tests; None when it holds a term this cannot read."""
    if isinstance(where, AlwaysTrue | AlwaysFalse):
        return set()
    if isinstance(where, And | Or):
        left, right = columns_of(where.left), columns_of(where.right)
        return None if left is None or right is None else left | right
    if isinstance(where, Not):
        return columns_of(where.child)
    if isinstance(where, UnboundPredicate):
        return {where.term.name}  # type: ignore[attr-defined]
    return None


def selects_whole_files(table: Table, where: BooleanExpression) -> bool:
    """Whether `where` tests only identity-partition columns of `table` (so every data file is wholly
    in or wholly out of it)."""
    tested = columns_of(where)
    if tested is None:
        return False
    schema = table.schema()
    identity = {
        schema.find_column_name(f.source_id)
        for f in table.spec().fields
        if isinstance(f.transform, IdentityTransform)
    }
    return tested <= identity


def merge_due(table: Table, manifests: int) -> bool:
    """Whether the manifests a commit adds on top of the current snapshot's `manifests` reach the count at
    which the table's merge-append merges them (never, where merging is off)."""
    properties = table.properties
    if properties.get(TableProperties.MANIFEST_MERGE_ENABLED, "false").lower() != "true":
        return False
    threshold = int(
        properties.get(
            TableProperties.MANIFEST_MIN_MERGE_COUNT, TableProperties.MANIFEST_MIN_MERGE_COUNT_DEFAULT
        )
    )
    return manifests + 2 >= threshold  # an overwrite adds two: its files and the dropped ones


def replace_in(
    tx: Transaction, table: Table, where: BooleanExpression, files: list[str], properties: dict[str, str]
) -> None:
    """Stage in `tx` one snapshot that drops the data files of `table` `where` selects and adds
    `files` (a file both held and listed stays, neither dropped nor read again); `properties` go into
    its summary. `table` is the table `tx` was opened on; `where` must select whole files."""
    held = {task.file.file_path: task.file for task in table.scan(row_filter=where).plan_files()}
    listed = set(files)
    dropped = [data_file for path, data_file in held.items() if path not in listed]
    metadata = tx.table_metadata  # each read re-applies the staged updates: read it once
    if metadata.name_mapping() is None:  # as `add_files` does: readers map the files' columns by name
        tx.set_properties(
            **{TableProperties.DEFAULT_NAME_MAPPING: metadata.schema().name_mapping.model_dump_json()}
        )
        metadata = tx.table_metadata
    added = list(parquet_files_to_data_files(table.io, metadata, iter([f for f in files if f not in held])))
    update = tx.update_snapshot(snapshot_properties=properties)
    if not dropped:
        with update.fast_append() as append:
            for data_file in added:
                append.append_data_file(data_file)
        return
    with update.overwrite() as overwrite:
        overwrite.delete_by_predicate(where)  # which manifests to look into
        for data_file in dropped:
            overwrite.delete_data_file(data_file)
        for data_file in added:
            overwrite.append_data_file(data_file)
