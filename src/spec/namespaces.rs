//! The eight Linux namespace kinds and how a container gets each one.

use anyhow::{bail, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    User,
    Pid,
    Time,
    Mount,
    Ipc,
    Uts,
    Network,
    Cgroup,
}

impl Kind {
    pub const ALL: [Kind; 8] =
        [Kind::User, Kind::Pid, Kind::Time, Kind::Mount, Kind::Ipc, Kind::Uts, Kind::Network, Kind::Cgroup];

    /// The name config.json uses.
    pub fn spec_name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Pid => "pid",
            Kind::Time => "time",
            Kind::Mount => "mount",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
            Kind::Network => "network",
            Kind::Cgroup => "cgroup",
        }
    }

    /// The name under /proc/PID/ns.
    pub fn proc_name(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Pid => "pid",
            Kind::Time => "time",
            Kind::Mount => "mnt",
            Kind::Ipc => "ipc",
            Kind::Uts => "uts",
            Kind::Network => "net",
            Kind::Cgroup => "cgroup",
        }
    }

    pub fn clone_flag(self) -> i32 {
        match self {
            Kind::User => libc::CLONE_NEWUSER,
            Kind::Pid => libc::CLONE_NEWPID,
            Kind::Time => 0x80, // CLONE_NEWTIME
            Kind::Mount => libc::CLONE_NEWNS,
            Kind::Ipc => libc::CLONE_NEWIPC,
            Kind::Uts => libc::CLONE_NEWUTS,
            Kind::Network => libc::CLONE_NEWNET,
            Kind::Cgroup => libc::CLONE_NEWCGROUP,
        }
    }

    pub fn parse(name: &str) -> Result<Kind> {
        match Kind::ALL.iter().find(|k| k.spec_name() == name) {
            Some(k) => Ok(*k),
            None => bail!("linux.namespaces: unknown namespace type {name:?}"),
        }
    }
}

/// What the container does for one namespace kind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Mode {
    /// Shares the runtime's namespace.
    #[default]
    Host,
    /// Gets a new namespace.
    New,
    /// Joins the namespace at this path.
    Join(String),
}

/// The namespace plan of one container, indexed by kind.
#[derive(Debug, Clone)]
pub struct Plan {
    modes: [Mode; 8],
}

impl Plan {
    pub fn from_spec(list: &[crate::spec::types::Namespace]) -> Result<Plan> {
        let mut modes: [Mode; 8] = Default::default();
        let mut seen = [false; 8];
        for ns in list {
            let kind = Kind::parse(&ns.kind)?;
            let i = kind as usize;
            if seen[i] {
                bail!("linux.namespaces: type {:?} is listed twice", ns.kind);
            }
            seen[i] = true;
            modes[i] = match ns.path.as_deref() {
                None | Some("") => Mode::New,
                Some(p) if !p.starts_with('/') => {
                    bail!("linux.namespaces: {} path {p:?} is not absolute", ns.kind)
                }
                Some(p) => Mode::Join(p.to_string()),
            };
        }
        Ok(Plan { modes })
    }

    pub fn mode(&self, kind: Kind) -> &Mode {
        &self.modes[kind as usize]
    }

    pub fn is_new(&self, kind: Kind) -> bool {
        self.mode(kind) == &Mode::New
    }

    pub fn is_private(&self, kind: Kind) -> bool {
        self.mode(kind) != &Mode::Host
    }

    /// Clone flags for every namespace that is created new.
    pub fn new_flags(&self) -> i32 {
        Kind::ALL.iter().filter(|k| self.is_new(**k)).fold(0, |acc, k| acc | k.clone_flag())
    }

    /// Namespaces joined by path, user first (the spec's order for setns).
    pub fn joins(&self) -> Vec<(Kind, &str)> {
        Kind::ALL
            .iter()
            .filter_map(|k| match self.mode(*k) {
                Mode::Join(p) => Some((*k, p.as_str())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::Namespace;

    fn ns(kind: &str, path: Option<&str>) -> Namespace {
        Namespace { kind: kind.into(), path: path.map(Into::into) }
    }

    #[test]
    fn plan_sorts_modes() {
        let p = Plan::from_spec(&[ns("pid", None), ns("network", Some("/run/netns/x"))]).unwrap();
        assert!(p.is_new(Kind::Pid));
        assert_eq!(p.mode(Kind::Network), &Mode::Join("/run/netns/x".into()));
        assert_eq!(p.mode(Kind::Ipc), &Mode::Host);
        assert_eq!(p.new_flags(), libc::CLONE_NEWPID);
        assert_eq!(p.joins(), vec![(Kind::Network, "/run/netns/x")]);
    }

    #[test]
    fn plan_refuses_bad_input() {
        assert!(Plan::from_spec(&[ns("pid", None), ns("pid", None)]).is_err());
        let e = Plan::from_spec(&[ns("bogus", None)]).unwrap_err();
        assert!(e.to_string().contains("bogus"));
        assert!(Plan::from_spec(&[ns("network", Some("rel"))]).is_err());
    }
}
