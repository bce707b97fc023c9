//! Which files a path names: one file, a directory (walked to any depth,
//! files kept by extension, hidden and `_`-prefixed names skipped), or a
//! glob (`*` and `?` within one path component, `[abc]`/`[a-z]` classes,
//! `**` for any number of directories). Files come back in natural order
//! (`part.9` before `part.10`), so a table reads the same way every time.
//!
//! Hive partitioning: in a directory, components of the form `key=value`
//! between the root and the file name are columns. Every file must name the
//! same keys in the same order; a key whose values all parse as integers is
//! `Int64`, any other is `Utf8`; `__HIVE_DEFAULT_PARTITION__` is null and
//! `%XX` escapes are decoded. Walks use an explicit stack (no recursion).

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use arrow::datatypes::{DataType, Field};

use crate::error::{FrameError, Result};
use crate::expr::Scalar;

/// A file and its hive partition values (in the order of [`Listing::hive`]).
#[derive(Clone, Debug)]
pub(crate) struct Listed {
    pub(crate) path: PathBuf,
    pub(crate) hive: Vec<Scalar>,
}

/// The files of a path, with the hive partition columns they share.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    pub(crate) files: Vec<Listed>,
    pub(crate) hive: Vec<Field>,
}

/// Whether a path holds glob characters.
pub(crate) fn is_glob(path: &str) -> bool {
    path.contains(['*', '?', '['])
}

/// The files `path` names, for extensions `exts` (used for directories
/// and `**`; a plain file or a glob match is taken whatever its name).
pub(crate) fn list(path: &str, exts: &[&str]) -> Result<Listing> {
    let p = Path::new(path);
    let (root, mut files) = if is_glob(path) {
        (None, glob(path)?)
    } else if p.is_dir() {
        (Some(p.to_path_buf()), walk(p, exts)?)
    } else if p.exists() {
        (None, vec![p.to_path_buf()])
    } else {
        return Err(FrameError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    };
    files.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    if files.is_empty() {
        return Err(FrameError::Invalid(format!(
            "{path}: no {} files",
            exts.join(" or ")
        )));
    }
    let Some(root) = root else {
        let files = files
            .into_iter()
            .map(|path| Listed {
                path,
                hive: Vec::new(),
            })
            .collect();
        return Ok(Listing {
            files,
            hive: Vec::new(),
        });
    };
    hive(&root, files)
}

/// Every file under `dir` with one of the extensions.
fn walk(dir: &Path, exts: &[&str]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| FrameError::io(&d.to_string_lossy(), e))?;
        for e in entries {
            let e = e.map_err(|e| FrameError::io(&d.to_string_lossy(), e))?;
            let name = e.file_name().to_string_lossy().to_string();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if exts.iter().any(|x| p.extension().is_some_and(|e| e == *x)) {
                out.push(p);
            }
        }
    }
    Ok(out)
}

/// The hive columns of files under `root`.
fn hive(root: &Path, files: Vec<PathBuf>) -> Result<Listing> {
    let mut keys: Option<Vec<String>> = None;
    let mut raw: Vec<Vec<Option<String>>> = Vec::with_capacity(files.len());
    for f in &files {
        let rel = f.strip_prefix(root).unwrap_or(f);
        let mut k = Vec::new();
        let mut v = Vec::new();
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            let s = c.as_os_str().to_string_lossy();
            if let Some((key, value)) = s.split_once('=') {
                k.push(key.to_string());
                let value = percent_decode(value);
                v.push((value != "__HIVE_DEFAULT_PARTITION__").then_some(value));
            }
        }
        match &keys {
            None => keys = Some(k),
            Some(first) if *first != k => {
                return Err(FrameError::Schema(format!(
                    "{}: partition keys {k:?}, other files have {first:?}",
                    f.display()
                )))
            }
            Some(_) => {}
        }
        raw.push(v);
    }
    let keys = keys.unwrap_or_default();
    let ints: Vec<bool> = (0..keys.len())
        .map(|i| {
            raw.iter()
                .all(|v| v[i].as_ref().is_none_or(|s| s.parse::<i64>().is_ok()))
        })
        .collect();
    let fields = keys
        .iter()
        .zip(&ints)
        .map(|(k, &int)| {
            let t = if int { DataType::Int64 } else { DataType::Utf8 };
            Field::new(k, t, true)
        })
        .collect();
    let files = files
        .into_iter()
        .zip(raw)
        .map(|(path, v)| Listed {
            path,
            hive: v
                .into_iter()
                .zip(&ints)
                .map(|(s, &int)| match s {
                    None => Scalar::Null,
                    Some(s) if int => s.parse().map_or(Scalar::Null, Scalar::Int),
                    Some(s) => Scalar::Str(s),
                })
                .collect(),
        })
        .collect();
    Ok(Listing {
        files,
        hive: fields,
    })
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Files matching a glob pattern.
fn glob(pattern: &str) -> Result<Vec<PathBuf>> {
    let absolute = pattern.starts_with('/');
    let comps: Vec<&str> = pattern.split('/').filter(|c| !c.is_empty()).collect();
    let start = if absolute {
        PathBuf::from("/")
    } else {
        PathBuf::from(".")
    };
    // (directory, index of the next component to match)
    let mut stack = vec![(start, 0usize)];
    let mut out = Vec::new();
    while let Some((dir, i)) = stack.pop() {
        let Some(&c) = comps.get(i) else { continue };
        let last = i + 1 == comps.len();
        if c == "**" {
            // Zero directories, or one more and stay on `**`.
            stack.push((dir.clone(), i + 1));
            for e in read_dir_sorted(&dir)? {
                if e.is_dir() {
                    stack.push((e, i));
                }
            }
            continue;
        }
        if !is_glob(c) {
            let p = if !absolute && i == 0 {
                PathBuf::from(c)
            } else {
                dir.join(c)
            };
            if last {
                if p.is_file() {
                    out.push(p);
                }
            } else if p.is_dir() {
                stack.push((p, i + 1));
            }
            continue;
        }
        for e in read_dir_sorted(&dir)? {
            let name = e
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name.starts_with('.') || !wildcard(c.as_bytes(), name.as_bytes()) {
                continue;
            }
            let e = if !absolute && dir == Path::new(".") {
                PathBuf::from(&name)
            } else {
                e
            };
            if last {
                if e.is_file() {
                    out.push(e);
                }
            } else if e.is_dir() {
                stack.push((e, i + 1));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    Ok(v)
}

/// Whether `name` matches one glob component (`*`, `?`, `[...]`),
/// iteratively with one backtracking point (the last `*`).
pub(crate) fn wildcard(pat: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pat.len() {
            match pat[p] {
                b'*' => {
                    star = Some((p, n));
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    n += 1;
                    continue;
                }
                b'[' => {
                    if let Some((ok, len)) = class(&pat[p..], name[n]) {
                        if ok {
                            p += len;
                            n += 1;
                            continue;
                        }
                    } else if name[n] == b'[' {
                        p += 1;
                        n += 1;
                        continue;
                    }
                }
                c if c == name[n] => {
                    p += 1;
                    n += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                p = sp + 1;
                n = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

/// A `[...]` class at the start of `pat`: (matches, length), or `None`
/// when it is not closed.
fn class(pat: &[u8], c: u8) -> Option<(bool, usize)> {
    let end = pat.iter().skip(1).position(|&b| b == b']')? + 1;
    let body = &pat[1..end];
    let (neg, body) = match body.first() {
        Some(b'!') | Some(b'^') => (true, &body[1..]),
        _ => (false, body),
    };
    let mut ok = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            ok |= body[i] <= c && c <= body[i + 2];
            i += 3;
        } else {
            ok |= body[i] == c;
            i += 1;
        }
    }
    Some((ok != neg, end + 1))
}

/// Compares strings with runs of digits as numbers (`a9 < a10`).
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].is_ascii_digit() && b[j].is_ascii_digit() {
            let si = i;
            while i < a.len() && a[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let da = trim_zeros(&a[si..i]);
            let db = trim_zeros(&b[sj..j]);
            let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            let o = a[i].cmp(&b[j]);
            if o != Ordering::Equal {
                return o;
            }
            i += 1;
            j += 1;
        }
    }
    (a.len() - i).cmp(&(b.len() - j))
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let k = d.iter().position(|&c| c != b'0').unwrap_or(d.len());
    &d[k..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_a_shell() {
        assert!(wildcard(b"*.csv", b"a.csv"));
        assert!(wildcard(b"*.csv", b".csv"));
        assert!(!wildcard(b"*.csv", b"a.csv.gz"));
        assert!(wildcard(b"part-?.csv", b"part-1.csv"));
        assert!(!wildcard(b"part-?.csv", b"part-12.csv"));
        assert!(wildcard(b"p[0-9]*", b"p7x"));
        assert!(!wildcard(b"p[!0-9]*", b"p7x"));
        assert!(wildcard(b"*a*b*c", b"xxaxxbxxbc"));
        assert!(!wildcard(b"*a*b*c", b"xxaxxbxxb"));
    }

    #[test]
    fn natural_order_counts_digits_as_numbers() {
        let mut v = vec!["part.10", "part.9", "part.1", "part.01a", "a"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["a", "part.1", "part.01a", "part.9", "part.10"]);
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("a%20b%2F"), "a b/");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
