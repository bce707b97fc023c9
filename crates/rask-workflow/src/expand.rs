//! Expansion: each `[[job]]` template becomes one job per combination of its
//! `for` variables (a range, a list, or the files a glob matches), with its
//! name, paths, `after`, environment and working directory rendered.
//! Commands are rendered later (`dag.rs`), once inputs are resolved.
//!
//! Rules:
//! 1. The first `for` variable varies slowest; jobs come out in that order.
//! 2. A `for` glob is matched against the file system, relative to the
//!    workflow's directory, in sorted order; it must match something.
//! 3. A name without placeholders gets the values appended: `leaf[3,7]`.
//! 4. Settings come from the job, else `[defaults]`, else the built-in
//!    defaults (no retries, no timeout, `/bin/sh -c`, one cpu).

use std::path::Path;
use std::time::Duration;

use crate::spec::{EachValue, JobTemplate, ResourceValue, TimeoutValue, WorkflowFile};
use crate::template::{Template, Var};
use crate::WorkflowError;

/// Most jobs one file may expand to (a guard against a typo'd range).
pub(crate) const MAX_JOBS: usize = 10_000_000;

/// A `[[job]]` template, parsed.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// Its `name` as written (for errors).
    pub(crate) label: String,
    pub(crate) cmd: Option<Template>,
    pub(crate) argv: Option<Vec<Template>>,
    pub(crate) shell: Vec<String>,
    pub(crate) retries: u32,
    pub(crate) timeout: Option<Duration>,
    /// Resource name and amount (`cpus` first when present).
    pub(crate) resources: Vec<(String, f64)>,
    /// The `for` variables and their values.
    pub(crate) domains: Vec<(String, Vec<String>)>,
}

/// The values of the `for` variables for one job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Binding<'a> {
    pub(crate) domains: &'a [(String, Vec<String>)],
    pub(crate) vals: &'a [u32],
}

impl<'a> Binding<'a> {
    pub(crate) fn get(&self, var: &str) -> Option<&'a str> {
        let k = self.domains.iter().position(|d| d.0 == var)?;
        Some(self.domains[k].1[self.vals[k] as usize].as_str())
    }

    pub(crate) fn names(&self) -> Vec<&'a str> {
        self.domains.iter().map(|d| d.0.as_str()).collect()
    }

    fn values(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.domains
            .iter()
            .zip(self.vals)
            .map(|(d, &v)| d.1[v as usize].as_str())
    }
}

/// One expanded job, before its inputs are resolved.
#[derive(Debug)]
pub(crate) struct Instance {
    pub(crate) name: String,
    /// Index of its template in `Expanded::templates`.
    pub(crate) template: u32,
    /// Which value of each `for` variable (indices into the template's domains).
    pub(crate) vals: Vec<u32>,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
    pub(crate) after: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<String>,
}

/// Every job of a file.
#[derive(Debug)]
pub(crate) struct Expanded {
    pub(crate) templates: Vec<Parsed>,
    pub(crate) instances: Vec<Instance>,
}

pub(crate) fn expand(file: &WorkflowFile, base: &Path) -> Result<Expanded, WorkflowError> {
    let mut templates = Vec::with_capacity(file.jobs.len());
    let mut instances = Vec::new();
    for (ti, job) in file.jobs.iter().enumerate() {
        let mut parsed = parse_template(file, job)?;
        parsed.domains = domains(job, base)?;
        let label = parsed.label.as_str();
        let bad = |field: &'static str| move |m: String| WorkflowError::invalid(label, field, m);
        let name_t = Template::parse(&job.name).map_err(bad("name"))?;
        let inputs_t = parse_all(&job.inputs).map_err(bad("inputs"))?;
        let outputs_t = parse_all(&job.outputs).map_err(bad("outputs"))?;
        let after_t = parse_all(&job.after).map_err(bad("after"))?;
        let mut env_t = Vec::new();
        for (k, v) in file
            .defaults
            .env
            .iter()
            .filter(|(k, _)| !job.env.contains_key(*k))
        {
            env_t.push((k.clone(), Template::parse(v).map_err(bad("env"))?));
        }
        for (k, v) in &job.env {
            env_t.push((k.clone(), Template::parse(v).map_err(bad("env"))?));
        }
        let cwd_t = match job.cwd.as_ref().or(file.defaults.cwd.as_ref()) {
            Some(c) => Some(Template::parse(c).map_err(bad("cwd"))?),
            None => None,
        };
        let domains = &parsed.domains;
        let count = domains
            .iter()
            .try_fold(1usize, |acc, d| acc.checked_mul(d.1.len()))
            .filter(|&n| n <= MAX_JOBS)
            .ok_or_else(|| {
                WorkflowError::invalid(
                    &job.name,
                    "for",
                    format!("expands to more than {MAX_JOBS} jobs"),
                )
            })?;
        instances.reserve(count);
        let mut idx = vec![0usize; domains.len()];
        for _ in 0..count {
            let vals: Vec<u32> = idx.iter().map(|&i| i as u32).collect();
            let vars = Binding {
                domains,
                vals: &vals,
            };
            let name = if name_t.is_literal() && !vals.is_empty() {
                let mut n = job.name.clone();
                n.push('[');
                for (i, v) in vars.values().enumerate() {
                    if i > 0 {
                        n.push(',');
                    }
                    n.push_str(v);
                }
                n.push(']');
                n
            } else {
                render_vars(&name_t, vars, None).map_err(bad("name"))?
            };
            let rn = |ts: &[Template], field: &'static str| -> Result<Vec<String>, WorkflowError> {
                ts.iter()
                    .map(|t| render_vars(t, vars, Some(&name)).map_err(bad(field)))
                    .collect()
            };
            let inputs = rn(&inputs_t, "inputs")?;
            let outputs = rn(&outputs_t, "outputs")?;
            let after = rn(&after_t, "after")?;
            let env = env_t
                .iter()
                .map(|(k, t)| {
                    Ok((
                        k.clone(),
                        render_vars(t, vars, Some(&name)).map_err(bad("env"))?,
                    ))
                })
                .collect::<Result<Vec<_>, WorkflowError>>()?;
            let cwd = match &cwd_t {
                Some(t) => Some(render_vars(t, vars, Some(&name)).map_err(bad("cwd"))?),
                None => None,
            };
            instances.push(Instance {
                name,
                template: ti as u32,
                vals,
                inputs,
                outputs,
                after,
                env,
                cwd,
            });
            // Odometer: the last variable varies fastest.
            for k in (0..idx.len()).rev() {
                idx[k] += 1;
                if idx[k] < domains[k].1.len() {
                    break;
                }
                idx[k] = 0;
            }
        }
        if instances.len() > MAX_JOBS {
            return Err(WorkflowError::invalid(
                &job.name,
                "for",
                format!("the file expands to more than {MAX_JOBS} jobs"),
            ));
        }
        templates.push(parsed);
    }
    Ok(Expanded {
        templates,
        instances,
    })
}

fn parse_all(texts: &[String]) -> Result<Vec<Template>, String> {
    texts.iter().map(|t| Template::parse(t)).collect()
}

fn parse_template(file: &WorkflowFile, job: &JobTemplate) -> Result<Parsed, WorkflowError> {
    let label = job.name.clone();
    if label.trim().is_empty() {
        return Err(WorkflowError::invalid(
            "",
            "name",
            "a job needs a non-empty name",
        ));
    }
    let (cmd, argv) = match (&job.cmd, &job.argv) {
        (Some(c), None) => (
            Some(Template::parse(c).map_err(|m| WorkflowError::invalid(&label, "cmd", m))?),
            None,
        ),
        (None, Some(a)) if !a.is_empty() => (
            None,
            Some(parse_all(a).map_err(|m| WorkflowError::invalid(&label, "argv", m))?),
        ),
        (None, Some(_)) => {
            return Err(WorkflowError::invalid(
                &label,
                "argv",
                "needs at least the program",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(WorkflowError::invalid(
                &label,
                "cmd",
                "give `cmd` (a shell line) or `argv` (a program and its arguments), not both",
            ))
        }
        (None, None) => {
            return Err(WorkflowError::invalid(
                &label,
                "cmd",
                "a job needs `cmd` (a shell line) or `argv` (a program and its arguments)",
            ))
        }
    };
    let shell = job
        .shell
        .clone()
        .or_else(|| file.defaults.shell.clone())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
    if shell.is_empty() {
        return Err(WorkflowError::invalid(
            &label,
            "shell",
            "needs at least the program, e.g. [\"/bin/bash\", \"-c\"]",
        ));
    }
    let timeout = match job.timeout.as_ref().or(file.defaults.timeout.as_ref()) {
        None => None,
        Some(TimeoutValue::Seconds(s)) if s.is_finite() && *s > 0.0 && *s < 1e12 => {
            Some(Duration::from_secs_f64(*s))
        }
        Some(TimeoutValue::Seconds(s)) => {
            return Err(WorkflowError::invalid(
                &label,
                "timeout",
                format!("{s} is not a positive number of seconds"),
            ))
        }
        Some(TimeoutValue::Text(t)) => Some(
            crate::spec::parse_duration(t)
                .map_err(|m| WorkflowError::invalid(&label, "timeout", m))?,
        ),
    };
    let mut resources: Vec<(String, f64)> = Vec::new();
    let merged = file
        .defaults
        .resources
        .iter()
        .filter(|(k, _)| !job.resources.contains_key(*k))
        .chain(job.resources.iter());
    for (k, v) in merged {
        let amount = match v {
            ResourceValue::Number(n) => *n,
            ResourceValue::Text(t) if k == "memory" => crate::spec::parse_size(t)
                .map_err(|m| WorkflowError::invalid(&label, "resources", m))?,
            ResourceValue::Text(t) => t.trim().parse::<f64>().map_err(|_| {
                WorkflowError::invalid(
                    &label,
                    "resources",
                    format!("`{k} = \"{t}\"`: an amount is a number"),
                )
            })?,
        };
        if !amount.is_finite() || amount < 0.0 {
            return Err(WorkflowError::invalid(
                &label,
                "resources",
                format!("`{k}` must be a non-negative number"),
            ));
        }
        resources.push((k.clone(), amount));
    }
    resources.sort_by(|a, b| (a.0 != "cpus", &a.0).cmp(&(b.0 != "cpus", &b.0)));
    Ok(Parsed {
        label,
        cmd,
        argv,
        shell,
        retries: job.retries.or(file.defaults.retries).unwrap_or(0),
        timeout,
        resources,
        domains: Vec::new(),
    })
}

/// Each `for` variable with its values.
fn domains(job: &JobTemplate, base: &Path) -> Result<Vec<(String, Vec<String>)>, WorkflowError> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (var, value) in &job.each.0 {
        let ok_name = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok_name || RESERVED.contains(&var.as_str()) {
            return Err(WorkflowError::invalid(
                &job.name,
                "for",
                format!(
                    "`{var}` cannot be a variable (letters, digits and `_`; not one of {})",
                    RESERVED.join(", ")
                ),
            ));
        }
        if out.iter().any(|(v, _)| v == var) {
            return Err(WorkflowError::invalid(
                &job.name,
                "for",
                format!("`{var}` is given twice"),
            ));
        }
        let values = match value {
            EachValue::List(items) => items.iter().map(|s| s.to_string()).collect(),
            EachValue::Text(t) => match parse_range(t) {
                Some(Ok((a, b))) => {
                    if b.saturating_sub(a) > MAX_JOBS as i64 {
                        return Err(WorkflowError::invalid(
                            &job.name,
                            "for",
                            format!("`{t}` has more than {MAX_JOBS} values"),
                        ));
                    }
                    (a..b).map(|i| i.to_string()).collect()
                }
                Some(Err(m)) => return Err(WorkflowError::invalid(&job.name, "for", m)),
                None => {
                    glob_files(t, base).map_err(|m| WorkflowError::invalid(&job.name, "for", m))?
                }
            },
        };
        if values.is_empty() {
            return Err(WorkflowError::invalid(
                &job.name,
                "for",
                format!("`{var}` has no values"),
            ));
        }
        out.push((var.clone(), values));
    }
    Ok(out)
}

/// Names a `for` variable cannot take (they mean something in templates).
const RESERVED: [&str; 5] = ["name", "input", "inputs", "output", "outputs"];

/// `"a..b"` (b excluded) or `"a..=b"`, as a half-open range; `None` if the
/// text is not a range at all.
fn parse_range(t: &str) -> Option<Result<(i64, i64), String>> {
    let t = t.trim();
    let (a, b, inclusive) = if let Some((a, b)) = t.split_once("..=") {
        (a, b, true)
    } else {
        let (a, b) = t.split_once("..")?;
        (a, b, false)
    };
    let is_int = |s: &str| {
        let s = s.trim();
        let s = s.strip_prefix('-').unwrap_or(s);
        !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
    };
    if !is_int(a) || !is_int(b) {
        return None;
    }
    let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) else {
        return Some(Err(format!("`{t}`: the bounds are too large")));
    };
    let end = if inclusive { b.checked_add(1) } else { Some(b) };
    match end {
        Some(end) if end >= a => Some(Ok((a, end))),
        _ => Some(Err(format!("`{t}` is an empty or reversed range"))),
    }
}

/// Files (not directories) matching `pattern` under `base`, as paths
/// relative to `base` (absolute patterns stay absolute), sorted.
pub(crate) fn glob_files(pattern: &str, base: &Path) -> Result<Vec<String>, String> {
    let absolute = pattern.starts_with('/');
    let full = if absolute {
        pattern.to_owned()
    } else {
        format!(
            "{}/{}",
            glob::Pattern::escape(&base.to_string_lossy()),
            pattern
        )
    };
    let paths =
        glob::glob(&full).map_err(|e| format!("`{pattern}` is not a valid pattern: {e}"))?;
    let mut out = Vec::new();
    for p in paths {
        let p = p.map_err(|e| format!("`{pattern}`: {e}"))?;
        if !p.is_file() {
            continue;
        }
        let shown = if absolute {
            Some(p.as_path())
        } else {
            p.strip_prefix(base).ok()
        };
        if let Some(s) = shown.and_then(|s| s.to_str()) {
            out.push(s.to_owned());
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!(
            "`{pattern}` matches no file (relative to {})",
            base.display()
        ));
    }
    Ok(out)
}

/// Renders a path-like field: only the `for` variables and (when given) `name`.
fn render_vars(t: &Template, vars: Binding<'_>, name: Option<&str>) -> Result<String, String> {
    t.render(|v: &Var, out: &mut String| {
        let val = if v.name == "name" {
            name.ok_or_else(|| "`{name}` cannot be used in the name itself".to_owned())?
        } else if let Some(val) = vars.get(&v.name) {
            val
        } else if matches!(v.name.as_str(), "input" | "inputs" | "output" | "outputs") {
            return Err(format!(
                "`{{{}}}` can only be used in `cmd` and `argv`",
                v.name
            ));
        } else {
            let known = vars.names();
            return Err(format!(
                "`{{{}}}` is not defined here (the variables are: {})",
                v.name,
                if known.is_empty() {
                    "none; add a `for` table".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        if v.index.is_some() {
            return Err(format!(
                "`{}` is a single value, it has no `[index]`",
                v.name
            ));
        }
        match v.modifier {
            Some(m) => out.push_str(&m.apply(val)),
            None => out.push_str(val),
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn file(text: &str) -> WorkflowFile {
        WorkflowFile::parse(text, Path::new("w.toml")).unwrap()
    }

    #[test]
    fn ranges_lists_and_names() {
        let w = file(
            r#"
[[job]]
name = "leaf"
for = { g = "0..2", i = ["a", 7] }
cmd = "echo {g}{i}"
outputs = ["out/{g}/{i}.txt", "{name}.log"]
"#,
        );
        let e = expand(&w, Path::new("/tmp")).unwrap();
        let names: Vec<&str> = e.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["leaf[0,a]", "leaf[0,7]", "leaf[1,a]", "leaf[1,7]"]);
        assert_eq!(e.instances[3].outputs, ["out/1/7.txt", "leaf[1,7].log"]);
        assert_eq!(parse_range("1..=3").unwrap().unwrap(), (1, 4));
        assert!(parse_range("data/*.csv").is_none());
        assert!(parse_range("5..1").unwrap().is_err());
    }

    #[test]
    fn errors_name_the_job_and_field() {
        let w = file("[[job]]\nname = \"a-{x}\"\nfor = { i = \"0..2\" }\ncmd = \"true\"\n");
        let e = expand(&w, Path::new("/tmp")).unwrap_err().to_string();
        assert!(
            e.contains("job `a-{x}`, field `name`") && e.contains("the variables are: i"),
            "{e}"
        );
        let w = file("[[job]]\nname = \"a\"\ncmd = \"true\"\noutputs = [\"{output}\"]\n");
        let e = expand(&w, Path::new("/tmp")).unwrap_err().to_string();
        assert!(e.contains("only be used in `cmd`"), "{e}");
        let w = file("[[job]]\nname = \"a\"\n");
        let e = expand(&w, Path::new("/tmp")).unwrap_err().to_string();
        assert!(e.contains("needs `cmd`"), "{e}");
        let w = file("[[job]]\nname = \"a\"\ncmd = \"x\"\nfor = { f = \"nothing-here-*.csv\" }\n");
        let e = expand(&w, Path::new("/tmp")).unwrap_err().to_string();
        assert!(e.contains("matches no file"), "{e}");
        let w = file("[[job]]\nname = \"a\"\ncmd = \"x\"\nfor = { name = [1] }\n");
        assert!(expand(&w, Path::new("/tmp")).is_err());
    }
}
