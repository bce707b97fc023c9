"""Arrow tables on the wire: one byte for the kind, then the Arrow IPC
stream (no pickle). The kind brings back the same type: a pyarrow Table, a
pyarrow RecordBatch or a pandas DataFrame."""
import sys

_TABLE, _BATCH, _PANDAS = 0, 1, 2


def table_to_ipc(obj):
    """The encoding of a pyarrow Table or RecordBatch or a pandas DataFrame;
    None for anything else."""
    pa = sys.modules.get("pyarrow")
    pd = sys.modules.get("pandas")
    if pa is not None and isinstance(obj, pa.Table):
        kind, table = _TABLE, obj
    elif pa is not None and isinstance(obj, pa.RecordBatch):
        kind, table = _BATCH, obj
    elif pd is not None and isinstance(obj, pd.DataFrame):
        import pyarrow

        kind, table = _PANDAS, pyarrow.Table.from_pandas(obj)
    else:
        return None
    import pyarrow

    sink = pyarrow.BufferOutputStream()
    with pyarrow.ipc.new_stream(sink, table.schema) as w:
        w.write(table)
    return bytes([kind]) + sink.getvalue().to_pybytes()


def table_from_ipc(data):
    """What ``table_to_ipc`` encoded."""
    import pyarrow

    if not data:
        raise ValueError("rask: an Arrow table came without its kind")
    kind = data[0]
    table = pyarrow.ipc.open_stream(pyarrow.py_buffer(data[1:])).read_all()
    if kind == _TABLE:
        return table
    if kind == _BATCH:
        return table.combine_chunks().to_batches()[0] if table.num_rows else \
            pyarrow.RecordBatch.from_pylist([], schema=table.schema)
    if kind == _PANDAS:
        return table.to_pandas()
    raise ValueError(f"rask: unknown table kind {kind}")
