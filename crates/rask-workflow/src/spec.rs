//! The workflow file as written: TOML, read with serde into these types
//! (unknown fields are refused, so a typo is an error with its line, not a
//! silently ignored setting). `docs/workflow.schema.json` describes the same
//! fields for editors; a test checks that the two agree.
//!
//! ```toml
//! [defaults]
//! retries = 1
//! timeout = "10m"
//!
//! [[job]]
//! name = "clean"
//! for = { f = "data/*.csv" }           # one job per matching file
//! cmd = "python clean.py {f} > {output}"
//! inputs = ["{f}", "clean.py"]
//! outputs = ["clean/{f.stem}.csv"]
//!
//! [[job]]
//! name = "merge"
//! cmd = "cat {inputs} > {output}"
//! inputs = ["clean/*.csv"]            # matched against the jobs' outputs: depends on every `clean`
//! outputs = ["merged.csv"]
//! ```
//!
//! What the fields mean is in `docs/workflows.md`; this module only reads
//! them. Templates are expanded by `expand.rs`, dependencies found by
//! `dag.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::WorkflowError;

/// A whole workflow file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowFile {
    /// Settings every job starts from.
    #[serde(default, skip_serializing_if = "Defaults::is_empty")]
    pub defaults: Defaults,
    /// The jobs (`[[job]]` tables), each a template that may expand to many.
    #[serde(default, rename = "job")]
    pub jobs: Vec<JobTemplate>,
}

/// `[defaults]`: what a job gets when it does not say.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Runs again after a failure, up to this many more times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Killed (with its process group) when it runs longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutValue>,
    /// Environment variables added to the inherited ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory, relative to the workflow file's directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The shell that runs `cmd` lines, with the flag before the line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Resources a job holds while it runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceValue>,
}

impl Defaults {
    fn is_empty(&self) -> bool {
        *self == Defaults::default()
    }
}

/// One `[[job]]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTemplate {
    /// The job's name; with `for`, a template (`"leaf-{i}"`) or a prefix
    /// that gets the values appended (`"leaf"` -> `leaf[3]`).
    pub name: String,
    /// Expansion: one job per combination of these variables' values.
    #[serde(rename = "for", default, skip_serializing_if = "Each::is_empty")]
    pub each: Each,
    /// A shell line (run by `shell`, `/bin/sh -c` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Files it reads: paths or glob patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// Files it writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Jobs that must finish first (names or glob patterns over names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// Environment variables (over `defaults.env`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Retries after a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Time limit per attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<TimeoutValue>,
    /// The shell for `cmd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Resources (over `defaults.resources`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resources: BTreeMap<String, ResourceValue>,
}

/// A time limit: seconds, or a text such as `"90s"`, `"5m"`, `"1h30m"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TimeoutValue {
    /// Seconds.
    Seconds(f64),
    /// A duration with units.
    Text(String),
}

/// A resource amount: a number, or a size such as `"2GiB"` (for `memory`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceValue {
    /// An amount.
    Number(f64),
    /// A size with a unit.
    Text(String),
}

/// What one expansion variable ranges over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EachValue {
    /// `"0..100"` (end excluded), `"1..=100"` (included), or a glob pattern
    /// over files (`"data/*.csv"`).
    Text(String),
    /// An explicit list of values.
    List(Vec<Scalar>),
}

/// A value in a `for` list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Text(s) => f.write_str(s),
        }
    }
}

/// The `for` table, in the order written (the first variable varies slowest).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Each(pub Vec<(String, EachValue)>);

impl Each {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Each {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for Each {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Each;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of variables, e.g. { i = \"0..10\", f = \"data/*.csv\" }")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Each, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, EachValue>()? {
                    out.push((k, v));
                }
                Ok(Each(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl WorkflowFile {
    /// Reads and parses a workflow file.
    pub fn load(path: &Path) -> Result<WorkflowFile, WorkflowError> {
        let text = std::fs::read_to_string(path).map_err(|e| WorkflowError::io(path, e))?;
        WorkflowFile::parse(&text, path)
    }

    /// Parses workflow text; `path` is only for error messages.
    pub fn parse(text: &str, path: &Path) -> Result<WorkflowFile, WorkflowError> {
        toml::from_str(text).map_err(|e| WorkflowError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// The file as TOML text.
    pub fn to_toml(&self) -> String {
        // Serializing these plain types cannot fail (no maps with non-string keys).
        toml::to_string(self).unwrap_or_else(|e| format!("# could not write the workflow: {e}\n"))
    }
}

/// `"90s"`, `"5m"`, `"1h30m"`, `"1.5h"`, `"250ms"`, or plain seconds.
pub(crate) fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("an empty duration".into());
    }
    let mut total = 0.0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_end == 0 {
            return Err(format!(
                "`{text}` is not a duration (try \"90s\", \"5m\", \"1h30m\")"
            ));
        }
        let n: f64 = rest[..num_end]
            .parse()
            .map_err(|_| format!("`{text}` is not a duration"))?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = rest[..unit_end].trim();
        rest = rest[unit_end..].trim_start();
        let mult = match unit {
            "" | "s" | "sec" | "secs" => 1.0,
            "ms" => 1e-3,
            "m" | "min" | "mins" => 60.0,
            "h" | "hr" | "hrs" => 3600.0,
            "d" => 86400.0,
            other => {
                return Err(format!(
                    "`{other}` in `{text}` is not a time unit (ms, s, m, h, d)"
                ))
            }
        };
        total += n * mult;
    }
    if !total.is_finite() || total <= 0.0 {
        return Err(format!("`{text}` is not a positive duration"));
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// A size in bytes: `4GiB`, `512MiB`, `10GB`, `1000`.
pub fn parse_size(text: &str) -> Result<f64, String> {
    let s = text.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try \"2GiB\", \"512MiB\")"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "gib" | "g" => 1024.0 * 1024.0 * 1024.0,
        "tib" | "t" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "`{other}` is not a size unit (B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    Ok(num * mult)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3 fortnights").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("2GiB").unwrap(), 2.0 * 1024.0 * 1024.0 * 1024.0);
        assert_eq!(parse_size("1000").unwrap(), 1000.0);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn a_workflow_parses_and_keeps_the_order_of_for() {
        let text = r#"
[defaults]
retries = 2
timeout = "5m"
env = { LC_ALL = "C" }

[[job]]
name = "leaf-{g}-{i}"
for = { g = "0..3", i = [1, 2, "x"] }
cmd = "echo {g}-{i} > {output}"
outputs = ["leaf/{g}-{i}.txt"]
resources = { cpus = 2, memory = "1GiB" }
timeout = 30
"#;
        let w = WorkflowFile::parse(text, Path::new("w.toml")).unwrap();
        assert_eq!(w.defaults.retries, Some(2));
        let j = &w.jobs[0];
        assert_eq!(j.each.0[0].0, "g");
        assert_eq!(j.each.0[1].0, "i");
        assert_eq!(j.timeout, Some(TimeoutValue::Seconds(30.0)));
        // The same file back from its TOML form.
        let again = WorkflowFile::parse(&w.to_toml(), Path::new("again.toml")).unwrap();
        assert_eq!(again, w);
    }

    #[test]
    fn the_schema_names_exactly_the_fields() {
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/workflow.schema.json")).unwrap();
        let keys = |v: &serde_json::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        // A file with every field set, written out: its keys are the fields.
        let full = WorkflowFile {
            defaults: Defaults {
                retries: Some(1),
                timeout: Some(TimeoutValue::Seconds(1.0)),
                env: [("A".to_owned(), "b".to_owned())].into(),
                cwd: Some(".".into()),
                shell: Some(vec!["sh".into()]),
                resources: [("cpus".to_owned(), ResourceValue::Number(1.0))].into(),
            },
            jobs: vec![JobTemplate {
                name: "n".into(),
                each: Each(vec![("i".into(), EachValue::Text("0..1".into()))]),
                cmd: Some("true".into()),
                argv: Some(vec!["true".into()]),
                inputs: vec!["i".into()],
                outputs: vec!["o".into()],
                after: vec!["a".into()],
                env: [("A".to_owned(), "b".to_owned())].into(),
                cwd: Some(".".into()),
                retries: Some(1),
                timeout: Some(TimeoutValue::Seconds(1.0)),
                shell: Some(vec!["sh".into()]),
                resources: [("cpus".to_owned(), ResourceValue::Number(1.0))].into(),
            }],
        };
        let written: toml::Value = toml::from_str(&full.to_toml()).unwrap();
        let tkeys = |v: &toml::Value| -> Vec<String> {
            let mut k: Vec<String> = v.as_table().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(tkeys(&written), keys(&schema["properties"]));
        assert_eq!(
            tkeys(&written["defaults"]),
            keys(&schema["properties"]["defaults"]["properties"])
        );
        assert_eq!(
            tkeys(&written["job"][0]),
            keys(&schema["$defs"]["job"]["properties"])
        );
    }

    #[test]
    fn a_typo_is_an_error_with_its_line() {
        let text = "[[job]]\nname = \"a\"\ncmd = \"true\"\noutput = [\"x\"]\n";
        let e = WorkflowFile::parse(text, Path::new("w.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("w.toml") && msg.contains("output") && msg.contains("line 4"),
            "{msg}"
        );
    }
}
