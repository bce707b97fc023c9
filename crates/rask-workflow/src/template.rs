//! Placeholders in a job's fields: `{var}`, `{var.stem}`, `{input}`,
//! `{inputs}`, `{output[1]}`, `{{` and `}}` for literal braces.
//!
//! A template is parsed once per `[[job]]` and rendered once per expanded
//! job. Rendering asks a lookup for each placeholder; the lookup decides
//! what is known at that stage (the `for` variables and `name` in paths; also
//! inputs and outputs in commands) and refuses the rest with a message that
//! names what is available.
//!
//! Modifiers apply to one path-like value: `name` (the last component),
//! `stem` (the name without its last extension), `ext` (that extension,
//! without the dot), `dir` (everything before the last `/`, or `.`).

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Template {
    pub(crate) segs: Vec<Seg>,
}

/// A piece of a template.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seg {
    /// Text copied as is.
    Lit(String),
    /// A placeholder.
    Var(Var),
}

/// `{name[index].modifier}`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    pub(crate) name: String,
    pub(crate) index: Option<usize>,
    pub(crate) modifier: Option<Modifier>,
}

/// A path modifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Modifier {
    Name,
    Stem,
    Ext,
    Dir,
}

impl Modifier {
    pub(crate) fn apply(self, path: &str) -> String {
        let (dir, name) = match path.rfind('/') {
            Some(i) => (if i == 0 { "/" } else { &path[..i] }, &path[i + 1..]),
            None => (".", path),
        };
        let dot = name.rfind('.').filter(|&i| i > 0);
        match self {
            Modifier::Name => name.to_owned(),
            Modifier::Dir => dir.to_owned(),
            Modifier::Stem => dot.map_or(name, |i| &name[..i]).to_owned(),
            Modifier::Ext => dot.map_or("", |i| &name[i + 1..]).to_owned(),
        }
    }
}

impl Template {
    /// Parses `text`; the error says what is wrong and where in the text.
    pub(crate) fn parse(text: &str) -> Result<Template, String> {
        let mut segs = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '}' => {
                    return Err(format!(
                        "`}}` at byte {at} closes nothing (write `}}}}` for a literal brace)"
                    ))
                }
                '{' => {
                    let start = at + 1;
                    let mut end = None;
                    for (j, d) in chars.by_ref() {
                        if d == '}' {
                            end = Some(j);
                            break;
                        }
                    }
                    let Some(end) = end else {
                        return Err(format!(
                            "`{{` at byte {at} is not closed (write `{{{{` for a literal brace)"
                        ));
                    };
                    if !lit.is_empty() {
                        segs.push(Seg::Lit(std::mem::take(&mut lit)));
                    }
                    segs.push(Seg::Var(parse_var(&text[start..end])?));
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            segs.push(Seg::Lit(lit));
        }
        Ok(Template { segs })
    }

    /// Whether the template has no placeholder.
    pub(crate) fn is_literal(&self) -> bool {
        self.segs.iter().all(|s| matches!(s, Seg::Lit(_)))
    }

    /// Whether it mentions the variable `name`.
    pub(crate) fn mentions(&self, name: &str) -> bool {
        self.segs
            .iter()
            .any(|s| matches!(s, Seg::Var(v) if v.name == name))
    }

    /// Renders to a string, asking `lookup` for every placeholder.
    pub(crate) fn render(
        &self,
        mut lookup: impl FnMut(&Var, &mut String) -> Result<(), String>,
    ) -> Result<String, String> {
        let mut out = String::new();
        for s in &self.segs {
            match s {
                Seg::Lit(l) => out.push_str(l),
                Seg::Var(v) => lookup(v, &mut out)?,
            }
        }
        Ok(out)
    }
}

fn parse_var(body: &str) -> Result<Var, String> {
    let body = body.trim();
    let (head, modifier) = match body.split_once('.') {
        Some((h, m)) => {
            let m = match m {
                "name" => Modifier::Name,
                "stem" => Modifier::Stem,
                "ext" => Modifier::Ext,
                "dir" => Modifier::Dir,
                other => {
                    return Err(format!(
                        "`{{{body}}}`: `{other}` is not a modifier (name, stem, ext, dir)"
                    ))
                }
            };
            (h, Some(m))
        }
        None => (body, None),
    };
    let (name, index) = match head.split_once('[') {
        Some((n, rest)) => {
            let idx = rest
                .strip_suffix(']')
                .and_then(|i| i.trim().parse::<usize>().ok())
                .ok_or_else(|| format!("`{{{body}}}`: an index is written `[0]`, `[1]`, ..."))?;
            (n, Some(idx))
        }
        None => (head, None),
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "`{{{body}}}` is not a placeholder (a name such as {{f}}, {{f.stem}}, {{inputs}}, {{output[1]}}; \
             `{{{{` for a literal brace)"
        ));
    }
    Ok(Var {
        name: name.to_owned(),
        index,
        modifier,
    })
}

/// `s` as one shell word: unchanged when it has only safe characters, else
/// in single quotes.
pub(crate) fn shell_quote(s: &str, out: &mut String) {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
                )
        });
    if safe {
        out.push_str(s);
        return;
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn render(t: &str, vals: &[(&str, &str)]) -> Result<String, String> {
        Template::parse(t)?.render(|v, out| {
            let (_, val) = vals
                .iter()
                .find(|(k, _)| *k == v.name)
                .ok_or_else(|| format!("unknown {}", v.name))?;
            match v.modifier {
                Some(m) => out.push_str(&m.apply(val)),
                None => out.push_str(val),
            }
            Ok(())
        })
    }

    #[test]
    fn placeholders_and_escapes() {
        assert_eq!(
            render(
                "a {x} {{b}} {f.stem}.{f.ext} {f.dir} {f.name}",
                &[("x", "1"), ("f", "data/in.csv")]
            )
            .unwrap(),
            "a 1 {b} in.csv data in.csv"
        );
        assert_eq!(Modifier::Dir.apply("x.txt"), ".");
        assert_eq!(Modifier::Stem.apply(".hidden"), ".hidden");
        assert_eq!(Modifier::Ext.apply("a/b.tar.gz"), "gz");
    }

    #[test]
    fn bad_templates_say_why() {
        assert!(Template::parse("{x").unwrap_err().contains("not closed"));
        assert!(Template::parse("x}")
            .unwrap_err()
            .contains("closes nothing"));
        assert!(Template::parse("{a b}")
            .unwrap_err()
            .contains("not a placeholder"));
        assert!(Template::parse("{f.size}")
            .unwrap_err()
            .contains("not a modifier"));
        assert!(Template::parse("{input[x]}").unwrap_err().contains("index"));
        let v = Template::parse("{input[2].stem}").unwrap();
        assert_eq!(
            v.segs[0],
            Seg::Var(Var {
                name: "input".into(),
                index: Some(2),
                modifier: Some(Modifier::Stem)
            })
        );
    }

    #[test]
    fn quoting() {
        let mut s = String::new();
        shell_quote("leaf/0-1.txt", &mut s);
        s.push(' ');
        shell_quote("it's a file", &mut s);
        s.push(' ');
        shell_quote("", &mut s);
        assert_eq!(s, "leaf/0-1.txt 'it'\\''s a file' ''");
    }
}
