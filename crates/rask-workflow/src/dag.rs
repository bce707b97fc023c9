//! From expanded jobs to a checked DAG ([`Workflow`]): paths normalized,
//! inputs resolved, dependencies found, commands rendered, jobs put in a
//! topological order.
//!
//! Rules:
//! 1. Paths are relative to the workflow file's directory (the *base*);
//!    they are normalized lexically (`./a//b` is `a/b`; an absolute path
//!    under the base becomes relative), so one file has one spelling.
//! 2. An output belongs to exactly one job.
//! 3. An input that is another job's output makes that job a dependency.
//!    A glob input (`*`, `?`, `[`) means the declared outputs it matches if
//!    it matches any, else the files on disk it matches; it must match
//!    something. Any other input is a *source*: a file no job makes.
//! 4. `after` adds dependencies by job name, or by a glob over names.
//! 5. A cycle is refused with its jobs named in dependency order.
//! 6. `jobs` is in a topological order (dependencies first), file order
//!    among independent jobs; `deps[i]` and every index in a `JobDef` refer
//!    to that order.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::expand::{expand, Expanded, Instance, Parsed};
use crate::spec::WorkflowFile;
use crate::template::{shell_quote, Template, Var};
use crate::WorkflowError;

/// A piece of a rendered command: outputs are filled in when the job runs
/// (with temporary paths, renamed into place on success).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Piece {
    Lit(String),
    /// Output `k`.
    Out(u32),
    /// Every output (one word each in a shell line; one argument each when
    /// alone in an `argv` element).
    Outs,
}

/// A job's command, rendered but for its outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum CommandLine {
    /// `shell... line` (`None`: `/bin/sh -c`).
    Shell {
        shell: Option<Vec<String>>,
        line: Vec<Piece>,
    },
    /// A program and its arguments.
    Argv(Vec<Vec<Piece>>),
}

/// Where an input's content hash comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) enum InputFrom {
    /// Output `output` of the job's `dep`-th dependency.
    Dep { dep: u32, output: u32 },
    /// A source file: index into [`Workflow::sources`].
    Source(u32),
}

/// An input file of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct InputRef {
    pub(crate) path: String,
    pub(crate) from: InputFrom,
}

/// One job, as it travels to the task that runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JobDef {
    pub(crate) name: String,
    pub(crate) command: CommandLine,
    pub(crate) inputs: Vec<InputRef>,
    pub(crate) outputs: Vec<String>,
    /// Whether the command names output `k` through a placeholder (then it
    /// writes a temporary file that is renamed into place on success).
    pub(crate) via_temp: Vec<bool>,
    pub(crate) env: Vec<(String, String)>,
    /// Working directory relative to the base (`None`: the base).
    pub(crate) cwd: Option<String>,
    pub(crate) retries: u32,
    pub(crate) timeout_ms: Option<u64>,
    pub(crate) resources: Vec<(String, f64)>,
    /// The part of its signature that does not depend on its inputs
    /// (`job::command_signature`).
    pub(crate) cmd_sig: crate::hash::Signature,
}

/// A checked workflow: jobs in topological order with their dependencies.
#[derive(Debug)]
pub struct Workflow {
    pub(crate) base: PathBuf,
    pub(crate) jobs: std::sync::Arc<Vec<JobDef>>,
    pub(crate) deps: Vec<Vec<u32>>,
    pub(crate) sources: Vec<String>,
}

impl Workflow {
    /// Reads, expands and checks the workflow in `path`.
    pub fn load(path: &Path) -> Result<Workflow, WorkflowError> {
        let file = WorkflowFile::load(path)?;
        let base = absolute_dir(path)?;
        Workflow::build(&file, &base)
    }

    /// Expands and checks `file`, whose relative paths are relative to `base`.
    pub fn build(file: &WorkflowFile, base: &Path) -> Result<Workflow, WorkflowError> {
        let base = if base.is_absolute() {
            base.to_owned()
        } else {
            std::env::current_dir()
                .map_err(|e| WorkflowError::io(base, e))?
                .join(base)
        };
        let ex = expand(file, &base)?;
        resolve(ex, base)
    }

    /// Number of jobs.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Whether there are no jobs.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The jobs' names, in the order they may run (dependencies first).
    pub fn job_names(&self) -> impl Iterator<Item = &str> {
        self.jobs.iter().map(|j| j.name.as_str())
    }

    /// The names of the jobs `name` depends on, if it exists.
    pub fn dependencies(&self, name: &str) -> Option<Vec<&str>> {
        let i = self.jobs.iter().position(|j| j.name == name)?;
        Some(
            self.deps[i]
                .iter()
                .map(|&d| self.jobs[d as usize].name.as_str())
                .collect(),
        )
    }

    /// The directory relative paths are resolved against.
    pub fn base(&self) -> &Path {
        &self.base
    }
}

fn absolute_dir(path: &Path) -> Result<PathBuf, WorkflowError> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.canonicalize().map_err(|e| WorkflowError::io(dir, e))
}

/// `path` normalized lexically (rule 1).
pub(crate) fn normalize(path: &str, base: &str) -> String {
    let clean = !path.is_empty()
        && !path.starts_with('/')
        && !path.ends_with('/')
        && path.split('/').all(|seg| !matches!(seg, "" | "." | ".."));
    if clean {
        return path.to_owned();
    }
    let absolute = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if absolute => {}
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    if !absolute {
        return if joined.is_empty() {
            ".".into()
        } else {
            joined
        };
    }
    let full = format!("/{joined}");
    match full.strip_prefix(base).and_then(|r| r.strip_prefix('/')) {
        Some(rel) if !rel.is_empty() => rel.to_owned(),
        _ => full,
    }
}

fn is_glob(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

const GLOB_OPTS: glob::MatchOptions = glob::MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

fn resolve(ex: Expanded, base: PathBuf) -> Result<Workflow, WorkflowError> {
    let Expanded {
        templates,
        instances,
    } = ex;
    let base_s = base.to_string_lossy().into_owned();
    let n = instances.len();
    // Names.
    let mut by_name: HashMap<&str, u32> = HashMap::with_capacity(n);
    for (i, inst) in instances.iter().enumerate() {
        if by_name.insert(inst.name.as_str(), i as u32).is_some() {
            return Err(WorkflowError::DuplicateJob(inst.name.clone()));
        }
    }
    // Outputs: normalized, each owned once (rule 2), sorted for prefix search.
    let mut outputs: Vec<Vec<String>> = Vec::with_capacity(n);
    let mut index: Vec<(&str, u32, u32)> = Vec::new();
    for inst in &instances {
        let mut outs = Vec::with_capacity(inst.outputs.len());
        for o in &inst.outputs {
            if is_glob(o) {
                return Err(WorkflowError::invalid(
                    &inst.name,
                    "outputs",
                    format!("`{o}`: an output is a path, not a pattern"),
                ));
            }
            let p = normalize(o, &base_s);
            if p == "." || p == "/" {
                return Err(WorkflowError::invalid(
                    &inst.name,
                    "outputs",
                    format!("`{o}` is a directory, not a file"),
                ));
            }
            outs.push(p);
        }
        outputs.push(outs);
    }
    for (i, outs) in outputs.iter().enumerate() {
        for (k, p) in outs.iter().enumerate() {
            index.push((p.as_str(), i as u32, k as u32));
        }
    }
    index.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for w in index.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(WorkflowError::DuplicateOutput {
                path: w[0].0.to_owned(),
                first: instances[w[0].1 as usize].name.clone(),
                second: instances[w[1].1 as usize].name.clone(),
            });
        }
    }
    // Inputs and dependencies (rules 3, 4), in file order for now.
    let mut sources: Vec<String> = Vec::new();
    let mut source_ix: HashMap<String, u32> = HashMap::new();
    let mut jobs: Vec<JobDef> = Vec::with_capacity(n);
    let mut deps: Vec<Vec<u32>> = Vec::with_capacity(n);
    for (i, inst) in instances.iter().enumerate() {
        let mut my_deps: Vec<u32> = Vec::new();
        let mut dep_pos: HashMap<u32, u32> = HashMap::new();
        let mut add_dep = |d: u32, my_deps: &mut Vec<u32>| -> u32 {
            *dep_pos.entry(d).or_insert_with(|| {
                my_deps.push(d);
                my_deps.len() as u32 - 1
            })
        };
        let mut inputs: Vec<InputRef> = Vec::new();
        for pat in &inst.inputs {
            let p = normalize(pat, &base_s);
            let mut produced: Vec<(u32, u32)> = Vec::new();
            if is_glob(&p) {
                let compiled = glob::Pattern::new(&p).map_err(|e| {
                    WorkflowError::invalid(
                        &inst.name,
                        "inputs",
                        format!("`{pat}` is not a valid pattern: {e}"),
                    )
                })?;
                let prefix = &p[..p.find(['*', '?', '[']).unwrap_or(p.len())];
                let start = index.partition_point(|e| e.0 < prefix);
                for e in index[start..]
                    .iter()
                    .take_while(|e| e.0.starts_with(prefix))
                {
                    if compiled.matches_with(e.0, GLOB_OPTS) {
                        produced.push((e.1, e.2));
                    }
                }
                if produced.is_empty() {
                    let files = crate::expand::glob_files(&p, &base).map_err(|_| {
                        WorkflowError::NoMatch {
                            job: inst.name.clone(),
                            pattern: pat.clone(),
                        }
                    })?;
                    for f in files {
                        let f = normalize(&f, &base_s);
                        let s = source(&mut sources, &mut source_ix, f.clone());
                        inputs.push(InputRef {
                            path: f,
                            from: InputFrom::Source(s),
                        });
                    }
                }
            } else {
                match index.binary_search_by(|e| e.0.cmp(p.as_str())) {
                    Ok(at) => produced.push((index[at].1, index[at].2)),
                    Err(_) => {
                        let s = source(&mut sources, &mut source_ix, p.clone());
                        inputs.push(InputRef {
                            path: p,
                            from: InputFrom::Source(s),
                        });
                    }
                }
            }
            for (job, out) in produced {
                if job as usize == i {
                    return Err(WorkflowError::Cycle(vec![inst.name.clone()]));
                }
                let dep = add_dep(job, &mut my_deps);
                inputs.push(InputRef {
                    path: outputs[job as usize][out as usize].clone(),
                    from: InputFrom::Dep { dep, output: out },
                });
            }
        }
        for pat in &inst.after {
            let before = my_deps.len();
            if is_glob(pat) {
                let compiled = glob::Pattern::new(pat).map_err(|e| {
                    WorkflowError::invalid(
                        &inst.name,
                        "after",
                        format!("`{pat}` is not a valid pattern: {e}"),
                    )
                })?;
                for (j, other) in instances.iter().enumerate() {
                    if j != i && compiled.matches(&other.name) {
                        add_dep(j as u32, &mut my_deps);
                    }
                }
                if my_deps.len() == before
                    && !instances
                        .iter()
                        .enumerate()
                        .any(|(j, o)| j != i && compiled.matches(&o.name))
                {
                    return Err(WorkflowError::UnknownAfter {
                        job: inst.name.clone(),
                        pattern: pat.clone(),
                    });
                }
            } else {
                match by_name.get(pat.as_str()) {
                    Some(&j) if j as usize == i => {
                        return Err(WorkflowError::Cycle(vec![inst.name.clone()]))
                    }
                    Some(&j) => {
                        add_dep(j, &mut my_deps);
                    }
                    None => {
                        return Err(WorkflowError::UnknownAfter {
                            job: inst.name.clone(),
                            pattern: pat.clone(),
                        })
                    }
                }
            }
        }
        let t = &templates[inst.template as usize];
        jobs.push(render_job(inst, t, &inputs, &outputs[i], &base_s)?);
        jobs[i].inputs = inputs;
        deps.push(my_deps);
    }
    drop(by_name);
    // Topological order (rules 5, 6).
    let order = topo_order(&deps).map_err(|cycle| {
        WorkflowError::Cycle(
            cycle
                .into_iter()
                .map(|j| instances[j as usize].name.clone())
                .collect(),
        )
    })?;
    let mut pos = vec![0u32; n];
    for (p, &j) in order.iter().enumerate() {
        pos[j as usize] = p as u32;
    }
    if order.iter().enumerate().all(|(p, &j)| p as u32 == j) {
        // Already in order (the usual case): nothing to move.
        return Ok(Workflow {
            base,
            jobs: std::sync::Arc::new(jobs),
            deps,
            sources,
        });
    }
    let mut slots: Vec<Option<(JobDef, Vec<u32>)>> = jobs.into_iter().zip(deps).map(Some).collect();
    let mut sorted_jobs = Vec::with_capacity(n);
    let mut sorted_deps = Vec::with_capacity(n);
    for &j in &order {
        if let Some((job, d)) = slots[j as usize].take() {
            sorted_deps.push(d.into_iter().map(|x| pos[x as usize]).collect());
            sorted_jobs.push(job);
        }
    }
    Ok(Workflow {
        base,
        jobs: std::sync::Arc::new(sorted_jobs),
        deps: sorted_deps,
        sources,
    })
}

fn source(sources: &mut Vec<String>, ix: &mut HashMap<String, u32>, path: String) -> u32 {
    *ix.entry(path.clone()).or_insert_with(|| {
        sources.push(path);
        sources.len() as u32 - 1
    })
}

/// Kahn's algorithm, file order among ready jobs; on a cycle, the jobs on one.
fn topo_order(deps: &[Vec<u32>]) -> Result<Vec<u32>, Vec<u32>> {
    let n = deps.len();
    let mut waiting: Vec<u32> = deps.iter().map(|d| d.len() as u32).collect();
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (j, d) in deps.iter().enumerate() {
        for &x in d {
            dependents[x as usize].push(j as u32);
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<u32>> = (0..n as u32)
        .filter(|&j| waiting[j as usize] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(j)) = ready.pop() {
        order.push(j);
        for &d in &dependents[j as usize] {
            waiting[d as usize] -= 1;
            if waiting[d as usize] == 0 {
                ready.push(std::cmp::Reverse(d));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Walk unfinished dependencies from an unfinished job until one repeats.
    let Some(start) = (0..n).find(|&j| waiting[j] > 0) else {
        return Err(Vec::new());
    };
    let mut seen_at: HashMap<u32, usize> = HashMap::new();
    let mut path: Vec<u32> = Vec::new();
    let mut at = start as u32;
    loop {
        if let Some(&k) = seen_at.get(&at) {
            return Err(path[k..].to_vec());
        }
        seen_at.insert(at, path.len());
        path.push(at);
        match deps[at as usize].iter().find(|&&d| waiting[d as usize] > 0) {
            Some(&d) => at = d,
            None => return Err(path),
        }
    }
}

/// Renders the command and the settings of one job.
fn render_job(
    inst: &Instance,
    t: &Parsed,
    inputs: &[InputRef],
    outputs: &[String],
    base: &str,
) -> Result<JobDef, WorkflowError> {
    let cwd = inst
        .cwd
        .as_ref()
        .map(|c| normalize(c, base))
        .filter(|c| c != ".");
    // In another working directory, paths are given absolute.
    let shown = |p: &str| -> String {
        if cwd.is_some() && !p.starts_with('/') {
            format!("{base}/{p}")
        } else {
            p.to_owned()
        }
    };
    let mut via_temp = vec![false; outputs.len()];
    let command = match (&t.cmd, &t.argv) {
        (Some(line), _) => CommandLine::Shell {
            shell: (t.shell != DEFAULT_SHELL).then(|| t.shell.clone()),
            line: render_cmd(
                line,
                t,
                inst,
                inputs,
                outputs,
                &shown,
                true,
                &mut via_temp,
                "cmd",
            )?,
        },
        (None, Some(args)) => {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                let whole_inputs = a.segs.len() == 1
                    && a.mentions("inputs")
                    && matches!(&a.segs[0], crate::template::Seg::Var(v) if v.modifier.is_none() && v.index.is_none());
                if whole_inputs {
                    out.extend(inputs.iter().map(|i| vec![Piece::Lit(shown(&i.path))]));
                } else {
                    out.push(render_cmd(
                        a,
                        t,
                        inst,
                        inputs,
                        outputs,
                        &shown,
                        false,
                        &mut via_temp,
                        "argv",
                    )?);
                }
            }
            CommandLine::Argv(out)
        }
        (None, None) => return Err(WorkflowError::invalid(&inst.name, "cmd", "no command")),
    };
    let mut def = JobDef {
        name: inst.name.clone(),
        command,
        inputs: Vec::new(),
        outputs: outputs.to_vec(),
        via_temp,
        env: inst.env.clone(),
        cwd,
        retries: t.retries,
        timeout_ms: t.timeout.map(|d| d.as_millis().max(1) as u64),
        resources: t.resources.clone(),
        cmd_sig: crate::hash::Signature(0),
    };
    def.cmd_sig = crate::job::command_signature(&def);
    Ok(def)
}

#[allow(clippy::too_many_arguments)]
fn render_cmd(
    t: &Template,
    tpl: &Parsed,
    inst: &Instance,
    inputs: &[InputRef],
    outputs: &[String],
    shown: &dyn Fn(&str) -> String,
    shell: bool,
    via_temp: &mut [bool],
    field: &'static str,
) -> Result<Vec<Piece>, WorkflowError> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    let push_val = |s: &str, lit: &mut String| {
        if shell {
            shell_quote(s, lit);
        } else {
            lit.push_str(s);
        }
    };
    let bad = |m: String| WorkflowError::invalid(&inst.name, field, m);
    for seg in &t.segs {
        let v: &Var = match seg {
            crate::template::Seg::Lit(l) => {
                lit.push_str(l);
                continue;
            }
            crate::template::Seg::Var(v) => v,
        };
        let one = |list_len: usize, what: &str| -> Result<usize, WorkflowError> {
            let k = v.index.unwrap_or(0);
            if k >= list_len {
                return Err(bad(format!(
                    "`{{{what}{}}}`: the job has {list_len} {what}s",
                    v.index.map(|i| format!("[{i}]")).unwrap_or_default()
                )));
            }
            Ok(k)
        };
        match v.name.as_str() {
            "input" => {
                let k = one(inputs.len(), "input")?;
                let p = &inputs[k].path;
                match v.modifier {
                    Some(m) => push_val(&m.apply(p), &mut lit),
                    None => push_val(&shown(p), &mut lit),
                }
            }
            "inputs" => {
                if v.index.is_some() || v.modifier.is_some() {
                    return Err(bad(
                        "`{inputs}` takes no index or modifier (use `{input[1]}`)".into(),
                    ));
                }
                for (k, i) in inputs.iter().enumerate() {
                    if k > 0 {
                        lit.push(' ');
                    }
                    push_val(&shown(&i.path), &mut lit);
                }
            }
            "output" => {
                let k = one(outputs.len(), "output")?;
                match v.modifier {
                    Some(m) => push_val(&m.apply(&outputs[k]), &mut lit),
                    None => {
                        if !lit.is_empty() {
                            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        pieces.push(Piece::Out(k as u32));
                        via_temp[k] = true;
                    }
                }
            }
            "outputs" => {
                if v.index.is_some() || v.modifier.is_some() {
                    return Err(bad(
                        "`{outputs}` takes no index or modifier (use `{output[1]}`)".into(),
                    ));
                }
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(Piece::Outs);
                via_temp.iter_mut().for_each(|t| *t = true);
            }
            "name" => push_val(
                &v.modifier
                    .map_or_else(|| inst.name.clone(), |m| m.apply(&inst.name)),
                &mut lit,
            ),
            other => {
                let vars = crate::expand::Binding {
                    domains: &tpl.domains,
                    vals: &inst.vals,
                };
                let Some(val) = vars.get(other) else {
                    let known = vars.names();
                    return Err(bad(format!(
                        "`{{{other}}}` is not defined (known: {}name, input, inputs, output, outputs)",
                        known.iter().map(|k| format!("{k}, ")).collect::<String>()
                    )));
                };
                if v.index.is_some() {
                    return Err(bad(format!(
                        "`{other}` is a single value, it has no `[index]`"
                    )));
                }
                match v.modifier {
                    Some(m) => push_val(&m.apply(val), &mut lit),
                    None => push_val(val, &mut lit),
                }
            }
        }
    }
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    Ok(pieces)
}

/// The shell that runs `cmd` lines unless a job says otherwise.
pub(crate) const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

impl CommandLine {
    /// Feeds the command, outputs included, to a signature.
    pub(crate) fn sign(&self, s: &mut crate::hash::Signer, outs: &[String]) {
        let pieces = |s: &mut crate::hash::Signer, ps: &[Piece]| {
            for p in ps {
                match p {
                    Piece::Lit(l) => {
                        s.tag(0).str(l);
                    }
                    Piece::Out(k) => {
                        s.tag(1)
                            .str(outs.get(*k as usize).map_or("", String::as_str));
                    }
                    Piece::Outs => {
                        s.tag(2);
                        for o in outs {
                            s.str(o);
                        }
                    }
                }
            }
        };
        match self {
            CommandLine::Shell { shell, line } => {
                s.tag(1);
                match shell {
                    Some(sh) => sh.iter().for_each(|a| {
                        s.str(a);
                    }),
                    None => DEFAULT_SHELL.iter().for_each(|a| {
                        s.str(a);
                    }),
                }
                s.tag(8);
                pieces(s, line);
            }
            CommandLine::Argv(args) => {
                s.tag(2);
                for a in args {
                    s.tag(7);
                    pieces(s, a);
                }
            }
        }
    }

    /// The program and arguments, with `outs` as the outputs' paths.
    pub(crate) fn argv(&self, outs: &[String]) -> Vec<String> {
        let join = |pieces: &[Piece], quote: bool| -> String {
            let mut s = String::new();
            for p in pieces {
                match p {
                    Piece::Lit(l) => s.push_str(l),
                    Piece::Out(k) => {
                        let o = outs.get(*k as usize).map_or("", String::as_str);
                        if quote {
                            shell_quote(o, &mut s)
                        } else {
                            s.push_str(o)
                        }
                    }
                    Piece::Outs => {
                        for (i, o) in outs.iter().enumerate() {
                            if i > 0 {
                                s.push(' ');
                            }
                            if quote {
                                shell_quote(o, &mut s)
                            } else {
                                s.push_str(o)
                            }
                        }
                    }
                }
            }
            s
        };
        match self {
            CommandLine::Shell { shell, line } => {
                let mut v: Vec<String> = match shell {
                    Some(sh) => sh.clone(),
                    None => DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect(),
                };
                v.push(join(line, true));
                v
            }
            CommandLine::Argv(args) => {
                let mut v = Vec::with_capacity(args.len());
                for a in args {
                    if let [Piece::Outs] = a.as_slice() {
                        v.extend(outs.iter().cloned());
                    } else {
                        v.push(join(a, false));
                    }
                }
                v
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn wf(text: &str) -> Result<Workflow, WorkflowError> {
        let f = WorkflowFile::parse(text, Path::new("w.toml")).unwrap();
        Workflow::build(&f, Path::new("/base"))
    }

    #[test]
    fn normalizing() {
        assert_eq!(normalize("./a//b/", "/base"), "a/b");
        assert_eq!(normalize("a/../b", "/base"), "b");
        assert_eq!(normalize("../x", "/base"), "../x");
        assert_eq!(normalize("/base/sub/x", "/base"), "sub/x");
        assert_eq!(normalize("/other/x", "/base"), "/other/x");
        assert_eq!(normalize("/base", "/base"), "/base");
    }

    #[test]
    fn a_diamond_in_topological_order() {
        let w = wf(r#"
[[job]]
name = "join"
cmd = "cat {inputs} > {output}"
inputs = ["mid/*.txt"]
outputs = ["out.txt"]

[[job]]
name = "mid"
for = { side = ["l", "r"] }
cmd = "cp {input} {output}"
inputs = ["top.txt"]
outputs = ["mid/{side}.txt"]

[[job]]
name = "top"
cmd = "echo hi > {output}"
outputs = ["./top.txt"]
"#)
        .unwrap();
        let names: Vec<&str> = w.job_names().collect();
        assert_eq!(names, ["top", "mid[l]", "mid[r]", "join"]);
        assert_eq!(w.dependencies("join").unwrap(), ["mid[l]", "mid[r]"]);
        assert_eq!(w.dependencies("mid[r]").unwrap(), ["top"]);
        let join = &w.jobs[3];
        assert_eq!(
            join.command.argv(&["T".into()]),
            ["/bin/sh", "-c", "cat mid/l.txt mid/r.txt > T"]
        );
        assert_eq!(join.via_temp, [true]);
        assert!(w.sources.is_empty());
    }

    #[test]
    fn sources_argv_and_after() {
        let w = wf(r#"
[[job]]
name = "a"
argv = ["sort", "-o", "{output}", "{inputs}"]
inputs = ["x y.txt", "b.txt"]
outputs = ["s.txt"]

[[job]]
name = "b"
argv = ["touch", "b.txt"]
outputs = ["b.txt"]
after = ["c*"]

[[job]]
name = "c1"
cmd = "true"
"#)
        .unwrap();
        let a = w.jobs.iter().find(|j| j.name == "a").unwrap();
        assert_eq!(
            a.command.argv(&["T".into()]),
            ["sort", "-o", "T", "x y.txt", "b.txt"]
        );
        assert_eq!(a.via_temp, [true]);
        assert_eq!(w.sources, ["x y.txt"]);
        assert_eq!(w.dependencies("b").unwrap(), ["c1"]);
        let b = w.jobs.iter().find(|j| j.name == "b").unwrap();
        assert_eq!(b.via_temp, [false]);
    }

    #[test]
    fn refusals() {
        let cyc = wf(r#"
[[job]]
name = "a"
cmd = "x"
inputs = ["b.txt"]
outputs = ["a.txt"]
[[job]]
name = "b"
cmd = "x"
inputs = ["a.txt"]
outputs = ["b.txt"]
"#)
        .unwrap_err()
        .to_string();
        assert!(
            cyc.contains("cycle") && cyc.contains("`a`") && cyc.contains("`b`"),
            "{cyc}"
        );
        let dup = wf("[[job]]\nname = \"a\"\ncmd = \"x\"\noutputs = [\"o\"]\n[[job]]\nname = \"b\"\ncmd = \"x\"\noutputs = [\"./o\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            dup.contains("`o` is an output of both `a` and `b`"),
            "{dup}"
        );
        let after = wf("[[job]]\nname = \"a\"\ncmd = \"x\"\nafter = [\"zz\"]\n")
            .unwrap_err()
            .to_string();
        assert!(after.contains("names no job"), "{after}");
        let nomatch = wf("[[job]]\nname = \"a\"\ncmd = \"x\"\ninputs = [\"nowhere/*.q\"]\n")
            .unwrap_err()
            .to_string();
        assert!(nomatch.contains("matches no file"), "{nomatch}");
        let idx = wf("[[job]]\nname = \"a\"\ncmd = \"cat {input[3]}\"\ninputs = [\"q\"]\n")
            .unwrap_err()
            .to_string();
        assert!(idx.contains("has 1 inputs"), "{idx}");
        let same = wf("[[job]]\nname = \"a\"\ncmd = \"x\"\n[[job]]\nname = \"a\"\ncmd = \"y\"\n")
            .unwrap_err()
            .to_string();
        assert!(same.contains("two jobs are named `a`"), "{same}");
    }
}
