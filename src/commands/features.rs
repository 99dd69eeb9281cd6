//! `berth features`: what this build supports, in the runtime spec's
//! features.md shape, derived from the code's own tables.

use anyhow::Result;
use berth::seccomp;
use berth::spec::namespaces::Kind;
use berth::spec::{caps, mount_opts};
use serde_json::{json, Value};

pub const HOOKS: [&str; 6] =
    ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];

pub fn features() -> Value {
    let mut namespaces: Vec<&str> = Kind::ALL.iter().map(|k| k.spec_name()).collect();
    namespaces.sort();
    let flags: Vec<&str> = seccomp::FLAGS.iter().map(|f| f.0).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": berth::spec::SPEC_VERSION,
        "hooks": HOOKS,
        "mountOptions": mount_opts::known(),
        "linux": {
            "namespaces": namespaces,
            "capabilities": caps::all_names(),
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": true, "rdma": true},
            "seccomp": {
                "enabled": true,
                "actions": seccomp::ACTIONS.iter().map(|a| a.0).collect::<Vec<_>>(),
                "operators": seccomp::OPERATORS,
                "archs": seccomp::ARCHS,
                "knownFlags": flags,
                "supportedFlags": flags,
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true, "schemata": true},
            "mountExtensions": {"idmap": {"enabled": true}},
            "netDevices": {"enabled": true},
        },
        "annotations": {"io.berth.version": env!("CARGO_PKG_VERSION")},
    })
}

pub fn main(args: &[String]) -> Result<i32> {
    crate::cli::parse(args, &[], None)?;
    println!("{}", serde_json::to_string_pretty(&features())?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::seccomp::profile::Profile;

    /// Every listed feature is handled, not just named.
    #[test]
    fn listed_features_are_handled() {
        let f = features();
        for o in f["mountOptions"].as_array().unwrap() {
            let opt = o.as_str().unwrap().to_string();
            let parsed = mount_opts::parse("m", std::slice::from_ref(&opt)).unwrap();
            assert!(parsed.data.is_empty(), "{opt} is passed through as data instead of handled");
        }
        for n in f["linux"]["namespaces"].as_array().unwrap() {
            Kind::parse(n.as_str().unwrap()).unwrap();
        }
        let names: Vec<String> =
            f["linux"]["capabilities"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().into()).collect();
        assert_eq!(caps::parse_set("x", &names, 63).unwrap().0.count_ones() as usize, names.len());
        for a in f["linux"]["seccomp"]["actions"].as_array().unwrap() {
            let p: Profile = serde_json::from_value(json!({
                "defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/x",
                "syscalls": [{"names": ["getpid"], "action": a,
                              "args": f["linux"]["seccomp"]["operators"].as_array().unwrap().iter()
                                  .map(|op| json!({"index": 0, "value": 1, "op": op})).collect::<Vec<_>>()}]
            }))
            .unwrap();
            seccomp::compile(&p).unwrap();
        }
        let flags = f["linux"]["seccomp"]["supportedFlags"].clone();
        let p: Profile = serde_json::from_value(json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags})).unwrap();
        seccomp::compile(&p).unwrap();
        for h in f["hooks"].as_array().unwrap() {
            let hooks: berth::spec::types::Hooks =
                serde_json::from_value(json!({ h.as_str().unwrap(): [{"path": "/bin/true"}] })).unwrap();
            assert_ne!(hooks, Default::default(), "{h} is read from config.json");
        }
    }
}
