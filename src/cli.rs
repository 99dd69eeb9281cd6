//! runc-compatible command-line parsing: `-flag` and `--flag`, `--flag=v`
//! and `--flag v`, short aliases, and options after positional arguments
//! (until `--`, or for `exec`/`ps` until the first positional).

use anyhow::{bail, Result};
use std::collections::BTreeMap;

#[derive(Clone, Copy)]
pub struct Flag {
    /// Canonical name first, then aliases (without dashes).
    pub names: &'static [&'static str],
    pub takes_value: bool,
}

pub const fn val(names: &'static [&'static str]) -> Flag {
    Flag { names, takes_value: true }
}

pub const fn bool_flag(names: &'static [&'static str]) -> Flag {
    Flag { names, takes_value: false }
}

#[derive(Debug, Default)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
}

impl Parsed {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn has(&self, name: &str) -> bool {
        match self.get(name) {
            Some(v) => v != "false",
            None => false,
        }
    }
}

/// The most descriptors `--preserve-fds` may name: the kernel's default
/// ceiling on open files per process (fs.nr_open).
pub const MAX_PRESERVED_FDS: u32 = 1 << 20;

/// `--preserve-fds N` (descriptors 3 .. 3+N), the one parser for every command.
pub fn preserve_fds(v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(n) if n <= MAX_PRESERVED_FDS => Ok(n),
        _ => bail!("--preserve-fds: {v:?} is not a number of descriptors (0..{MAX_PRESERVED_FDS})"),
    }
}

impl Parsed {
    /// `--preserve-fds`, 0 when absent.
    pub fn preserve_fds(&self) -> Result<u32> {
        self.get("preserve-fds").map_or(Ok(0), preserve_fds)
    }
}

fn find(flags: &[Flag], name: &str) -> Option<Flag> {
    flags.iter().copied().find(|f| f.names.contains(&name))
}

/// Parses `args`; `positional_stop` ends option parsing after that many
/// positional arguments (exec's command keeps its own options).
pub fn parse(args: &[String], flags: &[Flag], positional_stop: Option<usize>) -> Result<Parsed> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if positional_stop.is_some_and(|n| p.args.len() >= n) {
            p.args.push(a.clone());
            continue;
        }
        if a == "--" {
            p.args.extend(args[i..].iter().cloned());
            break;
        }
        if !a.starts_with('-') || a == "-" {
            p.args.push(a.clone());
            continue;
        }
        let body = a.trim_start_matches('-');
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        let Some(flag) = find(flags, name) else {
            bail!("flag provided but not defined: -{name}");
        };
        let value = if flag.takes_value {
            match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => bail!("flag needs an argument: -{name}"),
            }
        } else {
            match inline.as_deref() {
                None | Some("true") | Some("1") => "true".into(),
                Some("false") | Some("0") => "false".into(),
                Some(v) => bail!("invalid boolean value {v:?} for -{name}"),
            }
        };
        p.values.entry(flag.names[0]).or_default().push(value);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: &[Flag] = &[val(&["bundle", "b"]), bool_flag(&["detach", "d"]), val(&["pid-file"])];

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn go_style_flags() {
        let p = parse(&s(&["-b", "/x", "--detach", "id1", "-pid-file=/p"]), F, None).unwrap();
        assert_eq!(p.get("bundle"), Some("/x"));
        assert!(p.has("detach"));
        assert_eq!(p.get("pid-file"), Some("/p"));
        assert_eq!(p.args, vec!["id1"]);
    }

    #[test]
    fn options_after_id_and_double_dash() {
        let p = parse(&s(&["id", "--bundle", "b", "--", "-x"]), F, None).unwrap();
        assert_eq!(p.args, vec!["id", "-x"]);
        assert_eq!(p.get("bundle"), Some("b"));
        let p = parse(&s(&["-d", "id", "sh", "-c", "true"]), F, Some(1)).unwrap();
        assert_eq!(p.args, vec!["id", "sh", "-c", "true"]);
    }

    #[test]
    fn preserve_fds_range() {
        assert_eq!(preserve_fds("0").unwrap(), 0);
        assert_eq!(preserve_fds("5").unwrap(), 5);
        for bad in ["4294967295", "2147483647", "-1", "x", ""] {
            assert!(preserve_fds(bad).unwrap_err().to_string().contains("--preserve-fds"), "{bad}");
        }
    }

    #[test]
    fn unknown_flags_and_bools() {
        assert!(parse(&s(&["--nope"]), F, None).unwrap_err().to_string().contains("nope"));
        assert!(!parse(&s(&["--detach=false"]), F, None).unwrap().has("detach"));
        assert!(parse(&s(&["--bundle"]), F, None).is_err());
    }
}
