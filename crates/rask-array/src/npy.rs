//! The `.npy` format (NumPy's, version 1.0 on write; 1.0 to 3.0 on read)
//! for `float64` (`<f8`), `int64` (`<i8`) and `bool` (`|b1`), C or Fortran
//! order on read, C order on write.

use std::io::{Read, Write};

use ndarray::{ArrayD, IxDyn, ShapeBuilder};

use crate::block::{Block, DType};

const MAGIC: &[u8] = b"\x93NUMPY";

fn descr(d: DType) -> &'static str {
    match d {
        DType::F64 => "<f8",
        DType::I64 => "<i8",
        DType::Bool => "|b1",
    }
}

/// The header of an array of `shape` and `dtype`, padded to 64 bytes.
fn header(dtype: DType, shape: &[usize]) -> Vec<u8> {
    let shape_s = match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict = format!(
        "{{'descr': '{}', 'fortran_order': False, 'shape': {shape_s}, }}",
        descr(dtype)
    );
    let unpadded = MAGIC.len() + 2 + 2 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes a block as `.npy` to `w`; returns the bytes written.
pub(crate) fn write_block(w: &mut impl Write, b: &Block) -> std::io::Result<u64> {
    let h = header(b.dtype(), b.shape());
    w.write_all(&h)?;
    let mut n = h.len() as u64;
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    macro_rules! body {
        ($a:expr, $bytes:expr) => {{
            for x in $a.iter() {
                buf.extend_from_slice(&$bytes(*x));
                if buf.len() >= 1 << 16 {
                    w.write_all(&buf)?;
                    n += buf.len() as u64;
                    buf.clear();
                }
            }
        }};
    }
    match b {
        Block::F64(a) => body!(a, f64::to_le_bytes),
        Block::I64(a) => body!(a, i64::to_le_bytes),
        Block::Bool(a) => body!(a, |x: bool| [u8::from(x)]),
    }
    w.write_all(&buf)?;
    n += buf.len() as u64;
    Ok(n)
}

/// What a `.npy` header says.
#[derive(Debug)]
pub(crate) struct Header {
    pub(crate) dtype: DType,
    pub(crate) shape: Vec<usize>,
    pub(crate) fortran: bool,
}

fn field<'a>(dict: &'a str, key: &str) -> Result<&'a str, String> {
    let at = dict
        .find(&format!("'{key}'"))
        .ok_or_else(|| format!("the header has no '{key}'"))?;
    let rest = &dict[at + key.len() + 2..];
    let colon = rest.find(':').ok_or("a header field without a value")?;
    Ok(rest[colon + 1..].trim_start())
}

/// Reads a `.npy` header; the reader is left at the data.
pub(crate) fn read_header(r: &mut impl Read) -> Result<Header, String> {
    let mut pre = [0u8; 8];
    r.read_exact(&mut pre).map_err(|e| e.to_string())?;
    if &pre[..6] != MAGIC {
        return Err("not a .npy file (bad magic)".into());
    }
    let len = match pre[6] {
        1 => {
            let mut l = [0u8; 2];
            r.read_exact(&mut l).map_err(|e| e.to_string())?;
            u16::from_le_bytes(l) as usize
        }
        2 | 3 => {
            let mut l = [0u8; 4];
            r.read_exact(&mut l).map_err(|e| e.to_string())?;
            u32::from_le_bytes(l) as usize
        }
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let mut h = vec![0u8; len];
    r.read_exact(&mut h).map_err(|e| e.to_string())?;
    let dict = String::from_utf8(h).map_err(|_| "the header is not text")?;
    let d = field(&dict, "descr")?;
    let dtype = if d.starts_with("'<f8'") {
        DType::F64
    } else if d.starts_with("'<i8'") {
        DType::I64
    } else if d.starts_with("'|b1'") {
        DType::Bool
    } else {
        return Err(format!(
            "unsupported dtype {} (float64, int64 and bool are)",
            d.split(',').next().unwrap_or(d)
        ));
    };
    let fortran = field(&dict, "fortran_order")?.starts_with("True");
    let s = field(&dict, "shape")?;
    let close = s.find(')').ok_or("a shape without ')'")?;
    let inner = s.get(1..close).ok_or("a bad shape")?;
    let mut shape = Vec::new();
    for part in inner.split(',') {
        let p = part.trim();
        if !p.is_empty() {
            shape.push(
                p.parse::<usize>()
                    .map_err(|_| format!("a bad shape entry {p:?}"))?,
            );
        }
    }
    Ok(Header {
        dtype,
        shape,
        fortran,
    })
}

/// Reads the data of an array whose header was just read.
pub(crate) fn read_data(r: &mut impl Read, h: &Header) -> Result<Block, String> {
    let n: usize = h.shape.iter().product();
    let width = if h.dtype == DType::Bool { 1 } else { 8 };
    let mut bytes = vec![0u8; n.checked_mul(width).ok_or("the array is too big")?];
    r.read_exact(&mut bytes)
        .map_err(|e| format!("the data is short: {e}"))?;
    let shape = IxDyn(&h.shape).set_f(h.fortran);
    let err = |e: ndarray::ShapeError| e.to_string();
    Ok(match h.dtype {
        DType::F64 => {
            let v: Vec<f64> = bytes
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            Block::from(ArrayD::from_shape_vec(shape, v).map_err(err)?)
        }
        DType::I64 => {
            let v: Vec<i64> = bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])))
                .collect();
            Block::from(ArrayD::from_shape_vec(shape, v).map_err(err)?)
        }
        DType::Bool => {
            let v: Vec<bool> = bytes.iter().map(|&b| b != 0).collect();
            Block::from(ArrayD::from_shape_vec(shape, v).map_err(err)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_pads_the_header() {
        let a = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |ix| ix[0] as f64 - ix[1] as f64 * 0.5);
        let mut buf = Vec::new();
        let n = write_block(&mut buf, &Block::from(a.clone())).unwrap();
        assert_eq!(n as usize, buf.len());
        assert_eq!((buf.len() - 48) % 64, 0);
        let mut r = buf.as_slice();
        let h = read_header(&mut r).unwrap();
        assert_eq!(h.shape, vec![3, 2]);
        let b = read_data(&mut r, &h)
            .unwrap()
            .into_ndarray::<f64>()
            .unwrap();
        assert_eq!(a, b);
        assert!(read_header(&mut &b"garbage!"[..]).is_err());
    }
}
