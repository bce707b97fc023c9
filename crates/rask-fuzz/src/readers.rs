//! The file readers, through their public functions only: `.npy`
//! (`rask_array::from_npy`), CSV (`rask_dataframe::read_csv`) and Parquet
//! (`rask_dataframe::read_parquet`). The input is written to a file of the
//! calling thread's own, read, and, when it opens, computed on the
//! synchronous executor. Any outcome but a panic, an abort or a hang is
//! fine: the errors are the crates' typed `ArrayError` and `FrameError`.
//!
//! Input layout: byte 0 picks the reader's settings (chunks, block size,
//! header, delimiter); the rest is the file.

use std::path::PathBuf;

use rask_array::DType;
use rask_core::SyncExecutor;
use rask_dataframe::{CsvOptions, ParquetOptions};

/// A file for this thread's inputs (libFuzzer may run several threads).
fn scratch(ext: &str, bytes: &[u8]) -> Option<PathBuf> {
    let tid = format!("{:?}", std::thread::current().id());
    let tid: String = tid.chars().filter(char::is_ascii_digit).collect();
    let path = std::env::temp_dir().join(format!("rask-fuzz-{}-{tid}.{ext}", std::process::id()));
    std::fs::write(&path, bytes).ok()?;
    Some(path)
}

fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&a, rest)) => (a, rest),
        None => (0, &[]),
    }
}

/// The largest array (in bytes) the `.npy` target lets a header declare:
/// see [`npy_declared_bytes`].
pub const NPY_DECLARED_LIMIT: u64 = 64 << 20;

/// Known issue (reported, not ours to fix here): `from_npy` allocates what
/// the header declares (`shape` times the item size, and a header length
/// of up to 4 GiB) before it reads, so a 100-byte file can ask for
/// terabytes and abort the process; a shape whose product overflows panics
/// in debug builds. This returns what a file declares (`None` if it
/// declares nothing readable), so the target can pass over such files and
/// a test can show the issue; everything else goes through.
pub fn npy_declared_bytes(file: &[u8]) -> Option<u64> {
    let (hlen, start) = match *file.get(6)? {
        1 => (
            u64::from(u16::from_le_bytes(file.get(8..10)?.try_into().ok()?)),
            10,
        ),
        _ => (
            u64::from(u32::from_le_bytes(file.get(8..12)?.try_into().ok()?)),
            12,
        ),
    };
    if hlen > NPY_DECLARED_LIMIT {
        return Some(hlen);
    }
    let header = file.get(start..)?;
    let header = &header[..header.len().min(hlen as usize)];
    let text = String::from_utf8_lossy(header);
    // As `npy::read_header` finds it: after `'shape'`, the first `:`, then
    // whatever stands between the next character and the first `)`.
    let at = text.find("'shape'")? + "'shape'".len();
    let rest = &text[at..];
    let value = rest[rest.find(':')? + 1..].trim_start();
    let inner = value.get(1..value.find(')')?)?;
    let mut n: u64 = 8;
    for p in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        n = n.saturating_mul(p.parse::<u64>().ok()?);
    }
    Some(n)
}

/// `.npy` through `from_npy`, then computed.
pub fn npy(data: &[u8]) {
    let (settings, file) = split(data);
    if npy_declared_bytes(file).is_some_and(|n| n > NPY_DECLARED_LIMIT) {
        return; // the known issue above
    }
    let Some(path) = scratch("npy", file) else {
        return;
    };
    let chunks = 1 + usize::from(settings % 7);
    let Ok(a) = rask_array::from_npy(&path, chunks) else {
        return;
    };
    let ex = SyncExecutor::new();
    let shape = a.shape().to_vec();
    let computed = match a.dtype() {
        DType::F64 => a.compute::<f64, _>(&ex).map(|v| v.shape().to_vec()),
        DType::I64 => a.compute::<i64, _>(&ex).map(|v| v.shape().to_vec()),
        DType::Bool => a.compute::<bool, _>(&ex).map(|v| v.shape().to_vec()),
    };
    match computed {
        Ok(s) => assert_eq!(s, shape, "an array read back with another shape"),
        Err(e) => panic!("an array that opened does not compute: {e}"),
    }
}

/// CSV through `read_csv`, cut into byte ranges, then collected.
pub fn csv(data: &[u8]) {
    let (settings, file) = split(data);
    let Some(path) = scratch("csv", file) else {
        return;
    };
    let Some(path) = path.to_str() else {
        return;
    };
    let block = [u64::MAX, 1, 7, 64, 4096][usize::from(settings % 5)];
    let opts = CsvOptions::new()
        .header(settings & 8 == 0)
        .delimiter(if settings & 16 == 0 { b',' } else { b';' })
        .block_size(block)
        .infer_rows(1 + usize::from(settings >> 5));
    if let Ok(df) = rask_dataframe::read_csv(path, &opts) {
        let _ = df.collect(&SyncExecutor::new());
    }
}

/// Parquet through `read_parquet`, then collected.
pub fn parquet(data: &[u8]) {
    let (settings, file) = split(data);
    let Some(path) = scratch("parquet", file) else {
        return;
    };
    let Some(path) = path.to_str() else {
        return;
    };
    let opts = ParquetOptions::new().strings_as_dictionary(settings & 1 != 0);
    if let Ok(df) = rask_dataframe::read_parquet(path, &opts) {
        let _ = df.collect(&SyncExecutor::new());
    }
}

/// Valid files for the seed corpus and the generator.
pub fn valid_inputs(target: &str) -> Vec<Vec<u8>> {
    let with = |settings: u8, file: Vec<u8>| {
        let mut v = vec![settings];
        v.extend(file);
        v
    };
    match target {
        "npy" => {
            let mut out = Vec::new();
            for (descr, item, shape, n) in [
                ("<f8", 8, "(3, 2)", 6),
                ("<i8", 8, "(4,)", 4),
                ("|b1", 1, "(2, 2, 2)", 8),
                ("<f8", 8, "()", 1),
            ] {
                for fortran in ["False", "True"] {
                    let dict = format!(
                        "{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n"
                    );
                    let mut f = b"\x93NUMPY\x01\x00".to_vec();
                    f.extend_from_slice(&(dict.len() as u16).to_le_bytes());
                    f.extend_from_slice(dict.as_bytes());
                    f.extend((0..n * item).map(|i| (i * 37 % 251) as u8));
                    out.push(with(out.len() as u8, f));
                }
            }
            out
        }
        "csv" => vec![
            with(0, b"a,b,c\n1,2.5,x\n3,,y\n-4,1e3,\"q,uoted\"\n".to_vec()),
            with(
                1,
                b"id,flag,when\n1,true,2024-01-01\n2,false,2024-02-30\n".to_vec(),
            ),
            with(2, b"x;y\n1;2\n3;4\n".to_vec()),
            with(8, b"1,2\n3,4\n5,6\n".to_vec()),
            with(3, b"a,b\n1,2\n3\n4,5,6\n".to_vec()),
        ],
        "parquet" => parquet_seeds().into_iter().map(|f| with(0, f)).collect(),
        _ => Vec::new(),
    }
}

/// Small Parquet files written by the crate's own writer.
fn parquet_seeds() -> Vec<Vec<u8>> {
    use std::sync::Arc;

    use rask_dataframe::arrow::array::{
        ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray,
    };
    use rask_dataframe::arrow::record_batch::RecordBatch;

    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "x",
            Arc::new(Float64Array::from(vec![Some(0.5), None, Some(-1.0)])) as ArrayRef,
        ),
        (
            "s",
            Arc::new(StringArray::from(vec!["a", "bb", ""])) as ArrayRef,
        ),
        (
            "b",
            Arc::new(BooleanArray::from(vec![true, false, true])) as ArrayRef,
        ),
    ]);
    let Ok(batch) = batch else {
        return Vec::new();
    };
    let Some(path) = scratch("seed.parquet", &[]) else {
        return Vec::new();
    };
    let Some(p) = path.to_str() else {
        return Vec::new();
    };
    if rask_dataframe::write_parquet_file(&batch, p).is_err() {
        return Vec::new();
    }
    std::fs::read(&path).map(|f| vec![f]).unwrap_or_default()
}
