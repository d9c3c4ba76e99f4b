"""Parquet files of exported history (the only module importing pyarrow: the ``history`` extra)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tickcast.history.export import to_columns
from tickcast.history.rows import Row

_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "time": pa.timestamp("ns", tz="UTC"),
    "levels": pa.list_(pa.list_(pa.int64())),
    "pairs": pa.list_(pa.list_(pa.string())),
}


def schema_of(columns: list[tuple[str, str]]) -> pa.Schema:
    return pa.schema([(name, _TYPES[kind]) for name, kind in columns])


async def write_parquet(
    chunks: AsyncIterator[list[Row]], columns: list[tuple[str, str]], path: Path
) -> int:
    """Write every chunk of rows to ``path`` (zstd); the number of rows written."""
    schema = schema_of(columns)
    count = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        async for rows in chunks:
            table = pa.Table.from_pydict(to_columns(rows, columns), schema=schema)
            writer.write_table(table)
            count += len(rows)
    return count
