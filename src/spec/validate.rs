//! Checks a spec before anything is created and derives what the
//! container setup needs (namespace plan, capability masks, rlimits,
//! parsed mount options). Every error names the field and the value.

use super::types::{Mount, Process, Resources, Spec};
use super::{caps, mount_opts, rlimits, sched};
use crate::spec::namespaces::{Kind, Plan};
use anyhow::{bail, Result};

/// A process description, checked and turned into what the kernel takes.
#[derive(Debug, Clone)]
pub struct ProcessPlan {
    pub process: Process,
    pub caps: Option<caps::Sets>,
    pub rlimits: Vec<rlimits::Limit>,
    pub scheduler: Option<sched::Scheduler>,
    /// ioprio_set's value.
    pub io_priority: Option<u32>,
    pub affinity: sched::Affinity,
    /// `linux.personality` (the container's, for init and exec alike).
    pub personality: Option<u64>,
    /// `linux.memoryPolicy`, likewise.
    pub memory_policy: Option<sched::MemoryPolicy>,
    /// What was skipped, for a warning (capabilities this kernel lacks,
    /// ambient ones that cannot be raised).
    pub warnings: Vec<String>,
}

/// Everything create needs, checked.
#[derive(Debug, Clone)]
pub struct Checked {
    pub spec: Spec,
    pub namespaces: Plan,
    pub process: Option<ProcessPlan>,
    pub mounts: Vec<(Mount, mount_opts::Options)>,
    /// What was accepted with a warning (runc warns too).
    pub warnings: Vec<String>,
}

fn refuse_if_set(field: &str, present: bool) -> Result<()> {
    if present {
        bail!("{field}: not supported by berth yet");
    }
    Ok(())
}

/// Strings handed to the kernel cannot hold NUL bytes: refuse them rather
/// than cut or drop them.
fn check_no_nul(field: &str, list: &[String]) -> Result<()> {
    if let Some(i) = list.iter().position(|a| a.contains('\0')) {
        bail!("{field}[{i}]: contains a NUL byte");
    }
    Ok(())
}

/// -1 (4294967295) means "leave unchanged" to setresuid/setresgid: a
/// process given it would keep the runtime's ids (root).
fn check_id(field: &str, id: u32) -> Result<()> {
    if id == u32::MAX {
        bail!("{field}: {id} is not a valid id");
    }
    Ok(())
}

pub fn check_process(p: &Process) -> Result<ProcessPlan> {
    if p.args.is_empty() || p.args[0].is_empty() {
        bail!("process.args: must name the program to run");
    }
    check_no_nul("process.args", &p.args)?;
    check_no_nul("process.env", &p.env)?;
    if !p.cwd.starts_with('/') {
        bail!("process.cwd: {:?} is not an absolute path", p.cwd);
    }
    if p.cwd.contains('\0') {
        bail!("process.cwd: contains a NUL byte");
    }
    for (i, e) in p.env.iter().enumerate() {
        if !e.contains('=') {
            bail!("process.env[{i}]: {e:?} is not of the form KEY=VALUE");
        }
    }
    check_id("process.user.uid", p.user.uid)?;
    check_id("process.user.gid", p.user.gid)?;
    for (i, g) in p.user.additional_gids.iter().enumerate() {
        check_id(&format!("process.user.additionalGids[{i}]"), *g)?;
    }
    refuse_if_set("process.commandLine", p.command_line.is_some())?;
    for (field, v) in [("process.apparmorProfile", &p.apparmor_profile), ("process.selinuxLabel", &p.selinux_label)] {
        if v.as_deref().is_some_and(|s| s.contains('\0') || s.contains('\n')) {
            bail!("{field}: {v:?} contains a NUL byte or a newline");
        }
    }
    if let Some(adj) = p.oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            bail!("process.oomScoreAdj: {adj} is outside -1000..1000");
        }
    }
    if let Some(m) = p.user.umask {
        if m > 0o777 {
            bail!("process.user.umask: {m:#o} is not a valid umask");
        }
    }
    let (caps, warnings) = match &p.capabilities {
        Some(c) => {
            let (s, w) = caps::parse(c)?;
            (Some(s), w)
        }
        None => (None, Vec::new()),
    };
    Ok(ProcessPlan {
        process: p.clone(),
        caps,
        rlimits: rlimits::parse(&p.rlimits)?,
        scheduler: p.scheduler.as_ref().map(sched::scheduler).transpose()?,
        io_priority: p.io_priority.as_ref().map(sched::io_priority).transpose()?,
        affinity: p.exec_cpu_affinity.as_ref().map(sched::affinity).transpose()?.unwrap_or_default(),
        personality: None,
        memory_policy: None,
        warnings,
    })
}

/// `linux.personality` and `linux.memoryPolicy` of a config, checked, in
/// the plan of a process that enters the container.
pub fn linux_process_parts(spec: &Spec, plan: &mut ProcessPlan) -> Result<()> {
    if let Some((persona, warning)) = spec.linux().personality.as_ref().map(sched::personality).transpose()? {
        plan.personality = Some(persona);
        plan.warnings.extend(warning);
    }
    plan.memory_policy = spec.linux().memory_policy.as_ref().map(sched::memory_policy).transpose()?;
    Ok(())
}

/// An idmapped mount: its own maps, or with only the option the
/// container's; a bind mount (the kernel idmaps a detached bind).
fn check_idmap(i: usize, m: &Mount, o: &mut mount_opts::Options, linux: &super::types::Linux) -> Result<()> {
    let own = match (&m.uid_mappings, &m.gid_mappings) {
        (None, None) => None,
        (Some(u), Some(g)) if !u.is_empty() && !g.is_empty() => Some((u.clone(), g.clone())),
        _ => bail!("mounts[{i}].uidMappings: an idmapped mount needs both uidMappings and gidMappings"),
    };
    if own.is_none() && o.idmap.is_none() {
        return Ok(());
    }
    if !mount_opts::is_bind(m, o) {
        bail!("mounts[{i}]: idmapped mounts are bind mounts here ({:?} is not)", m.kind.as_deref().unwrap_or(""));
    }
    let maps = match own {
        Some(maps) => maps,
        None if !linux.uid_mappings.is_empty() => (linux.uid_mappings.clone(), linux.gid_mappings.clone()),
        None => bail!("mounts[{i}].options: idmap needs uidMappings/gidMappings or a user namespace's"),
    };
    for (j, r) in maps.0.iter().chain(&maps.1).enumerate() {
        if r.size == 0 || r.container_id.checked_add(r.size).is_none() || r.host_id.checked_add(r.size).is_none() {
            bail!(
                "mounts[{i}].uidMappings/gidMappings[{j}]: {} {} {} is not a valid range",
                r.container_id,
                r.host_id,
                r.size
            );
        }
    }
    o.idmap.get_or_insert(false);
    o.id_maps = Some(maps);
    Ok(())
}

/// Sysctls that only make sense in a namespace the container owns.
fn check_sysctl(key: &str, ns: &Plan) -> Result<()> {
    const IPC: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    let need = if IPC.contains(&key) || key.starts_with("fs.mqueue.") || key == "kernel.shm_rmid_forced" {
        Kind::Ipc
    } else if key.starts_with("net.") {
        Kind::Network
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        bail!("linux.sysctl: {key:?} cannot be set through sysctl; use the hostname/domainname fields");
    } else {
        bail!("linux.sysctl: {key:?} is not namespaced and would change the host");
    };
    if !ns.is_private(need) {
        bail!("linux.sysctl: {key:?} needs the container to have its own {} namespace", need.spec_name());
    }
    Ok(())
}

/// A `linux.resources.unified` key must be a plain file name of the
/// container's own cgroup (no way up or sideways).
pub fn check_unified_key(k: &str) -> Result<()> {
    if k.is_empty() || k.contains('/') || k.starts_with('.') || !k.contains('.') {
        bail!("linux.resources.unified: key {k:?} is not a cgroup file name");
    }
    Ok(())
}

/// Device rule letters other than r, w and m are dropped with a warning,
/// as runc 1.1 ignores them (`rwa` is common in the wild).
pub fn normalize_device_access(r: &mut Resources) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, d) in r.devices.iter_mut().enumerate() {
        let Some(access) = d.access.as_mut() else { continue };
        if access.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')) {
            warnings.push(format!(
                "linux.resources.devices[{i}].access: {access:?}: letters other than r, w, m are ignored"
            ));
            access.retain(|c| matches!(c, 'r' | 'w' | 'm'));
        }
    }
    warnings
}

/// Value checks on `linux.resources` that need no host (update uses them too).
pub fn check_resources(r: &Resources) -> Result<()> {
    for (i, d) in r.devices.iter().enumerate() {
        let kind = d.kind.as_deref().unwrap_or("a");
        if !matches!(kind, "a" | "b" | "c") {
            bail!("linux.resources.devices[{i}].type: {kind:?} is not one of a, b, c");
        }
        let access = d.access.as_deref().unwrap_or("rwm");
        if access.is_empty() {
            bail!("linux.resources.devices[{i}].access: {access:?} has none of r, w, m");
        }
    }
    if let Some(m) = &r.memory {
        for (name, v) in [("limit", m.limit), ("reservation", m.reservation), ("swap", m.swap)] {
            if let Some(v) = v.filter(|v| *v < -1) {
                bail!("linux.resources.memory.{name}: {v} is negative (-1 means unlimited)");
            }
        }
        if let Some(s) = m.swappiness.filter(|s| *s > 100) {
            bail!("linux.resources.memory.swappiness: {s} is above 100");
        }
        if let (Some(l), Some(s)) = (m.limit, m.swap) {
            if l > 0 && s > 0 && s < l {
                bail!("linux.resources.memory.swap: {s} is below memory.limit {l} (swap counts memory+swap)");
            }
        }
    }
    if let Some(w) = r.block_io.as_ref().and_then(|b| b.weight).filter(|w| *w != 0 && !(10..=1000).contains(w)) {
        bail!("linux.resources.blockIO.weight: {w} is outside 10..1000");
    }
    for k in r.unified.keys() {
        check_unified_key(k)?;
    }
    Ok(())
}

/// Hooks run host programs: absolute paths only, and nothing the kernel would cut.
fn check_hooks(h: &super::types::Hooks) -> Result<()> {
    let kinds = [
        ("prestart", &h.prestart),
        ("createRuntime", &h.create_runtime),
        ("createContainer", &h.create_container),
        ("startContainer", &h.start_container),
        ("poststart", &h.poststart),
        ("poststop", &h.poststop),
    ];
    for (kind, list) in kinds {
        for (i, hook) in list.iter().enumerate() {
            let field = format!("hooks.{kind}[{i}]");
            if !hook.path.starts_with('/') || hook.path.contains('\0') {
                bail!("{field}.path: {:?} is not an absolute path", hook.path);
            }
            check_no_nul(&format!("{field}.args"), &hook.args)?;
            check_no_nul(&format!("{field}.env"), &hook.env)?;
        }
    }
    Ok(())
}

pub fn check(mut spec: Spec) -> Result<Checked> {
    let mut warnings = Vec::new();
    if let Some(r) = spec.linux.as_mut().and_then(|l| l.resources.as_mut()) {
        warnings = normalize_device_access(r);
    }
    if !spec.oci_version.is_empty() && !spec.oci_version.starts_with("1.") {
        bail!("ociVersion: {:?} is not a 1.x version", spec.oci_version);
    }
    match &spec.root {
        None => bail!("root: missing; the spec needs root.path"),
        Some(r) if r.path.is_empty() => bail!("root.path: empty"),
        _ => {}
    }
    let linux = spec.linux();
    let namespaces = Plan::from_spec(&linux.namespaces)?;
    let mut process = spec.process.as_ref().map(check_process).transpose()?;
    if let Some(p) = process.as_mut() {
        linux_process_parts(&spec, p)?;
    }

    if spec.hostname.as_deref().is_some_and(|h| !h.is_empty()) && !namespaces.is_private(Kind::Uts) {
        bail!("hostname: {:?} cannot be set without a private uts namespace", spec.hostname.as_deref().unwrap_or(""));
    }
    if spec.domainname.as_deref().is_some_and(|h| !h.is_empty()) && !namespaces.is_private(Kind::Uts) {
        bail!("domainname: cannot be set without a private uts namespace");
    }
    let userns_new = namespaces.is_new(Kind::User);
    if userns_new && (linux.uid_mappings.is_empty() || linux.gid_mappings.is_empty()) {
        bail!("linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
    }
    if !userns_new && (!linux.uid_mappings.is_empty() || !linux.gid_mappings.is_empty()) {
        bail!("linux.uidMappings: mappings are given but no new user namespace is requested");
    }
    for (i, m) in linux.uid_mappings.iter().chain(&linux.gid_mappings).enumerate() {
        if m.size == 0 {
            bail!("linux.uidMappings/gidMappings[{i}]: size is 0");
        }
    }
    if !linux.time_offsets.is_empty() && !namespaces.is_new(Kind::Time) {
        bail!("linux.timeOffsets: needs a new time namespace");
    }
    for k in linux.time_offsets.keys() {
        if k != "monotonic" && k != "boottime" {
            bail!("linux.timeOffsets: unknown clock {k:?} (monotonic or boottime)");
        }
    }
    if let Some(p) = linux.rootfs_propagation.as_deref() {
        if !matches!(
            p,
            "" | "private" | "rprivate" | "slave" | "rslave" | "shared" | "rshared" | "unbindable" | "runbindable"
        ) {
            bail!("linux.rootfsPropagation: {p:?} is not a propagation mode");
        }
    }
    for key in linux.sysctl.keys() {
        check_sysctl(key, &namespaces)?;
    }
    for (i, d) in linux.devices.iter().enumerate() {
        let p = std::path::Path::new(&d.path);
        if !p.is_absolute() || p.components().any(|c| c == std::path::Component::ParentDir) || d.path.contains('\0') {
            bail!("linux.devices[{i}].path: {:?} is not an absolute path without \"..\"", d.path);
        }
        if !matches!(d.kind.as_str(), "c" | "b" | "u" | "p") {
            bail!("linux.devices[{i}].type: {:?} is not one of c, b, u, p", d.kind);
        }
    }
    if let Some(r) = &linux.intel_rdt {
        super::rdt::check(r)?;
    }
    check_net_devices(linux, &namespaces)?;
    if let Some(l) = linux.mount_label.as_deref().filter(|l| l.contains(['\0', '"'])) {
        bail!("linux.mountLabel: {l:?} contains a NUL byte or a quote");
    }
    if let Some(r) = &linux.resources {
        check_resources(r)?;
    }

    check_hooks(&spec.hooks)?;
    for (i, m) in linux.uid_mappings.iter().chain(&linux.gid_mappings).enumerate() {
        if m.container_id == u32::MAX || m.host_id == u32::MAX || m.container_id.checked_add(m.size).is_none() {
            bail!(
                "linux.uidMappings/gidMappings[{i}]: {} {} {} is not a valid range",
                m.container_id,
                m.host_id,
                m.size
            );
        }
    }

    let mut mounts = Vec::new();
    for (i, m) in spec.mounts.iter().enumerate() {
        if !m.destination.starts_with('/') {
            bail!("mounts[{i}].destination: {:?} is not an absolute path", m.destination);
        }
        let mut opts = mount_opts::parse(&format!("mounts[{i}].options"), &m.options)?;
        check_idmap(i, m, &mut opts, linux)?;
        mounts.push((m.clone(), opts));
    }
    Ok(Checked { spec, namespaces, process, mounts, warnings })
}

/// An interface name the kernel takes: 1 to 15 bytes, no '/', ':' or
/// white space, not "." or "..".
fn check_ifname(field: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 15
        || name == "."
        || name == ".."
        || name.bytes().any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        bail!("{field}: {name:?} is not a valid network interface name");
    }
    Ok(())
}

/// `linux.netDevices`: names the kernel takes, each used once in the
/// container, and a network namespace of the container's own to move into.
fn check_net_devices(linux: &super::types::Linux, namespaces: &Plan) -> Result<()> {
    if linux.net_devices.is_empty() {
        return Ok(());
    }
    if !namespaces.is_private(Kind::Network) {
        bail!(
            "linux.netDevices: needs a network namespace of the container's own (it would move host devices nowhere)"
        );
    }
    let mut inside = std::collections::BTreeSet::new();
    for (host, dev) in &linux.net_devices {
        check_ifname("linux.netDevices", host)?;
        let name = dev.name.as_deref().unwrap_or(host);
        check_ifname(&format!("linux.netDevices.{host}.name"), name)?;
        if !inside.insert(name) {
            bail!("linux.netDevices.{host}.name: {name:?} is used by another device too");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    fn err(json: &str) -> String {
        check(spec(json)).unwrap_err().to_string()
    }

    const PROC: &str = r#""process":{"args":["sh"],"cwd":"/"}"#;

    #[test]
    fn minimal_spec_passes() {
        let c = check(spec(&format!(r#"{{"ociVersion":"1.2.0","root":{{"path":"rootfs"}},{PROC}}}"#))).unwrap();
        assert!(c.process.is_some());
    }

    #[test]
    fn errors_name_fields() {
        assert!(err(r#"{"ociVersion":"1.0.0"}"#).contains("root"));
        assert!(err(r#"{"root":{"path":"r"},"process":{"args":[],"cwd":"/"}}"#).contains("process.args"));
        assert!(err(r#"{"root":{"path":"r"},"process":{"args":["a"],"cwd":"rel"}}"#).contains("process.cwd"));
        assert!(err(&format!(r#"{{"root":{{"path":"r"}},{PROC},"hostname":"h"}}"#)).contains("uts"));
        assert!(err(&format!(
            r#"{{"root":{{"path":"r"}},{PROC},"linux":{{"resources":{{"memory":{{"swappiness":101}}}}}}}}"#
        ))
        .contains("linux.resources.memory.swappiness"));
        assert!(err(&format!(r#"{{"root":{{"path":"r"}},{PROC},"mounts":[{{"destination":"x"}}]}}"#))
            .contains("mounts[0].destination"));
    }

    #[test]
    fn net_devices_need_a_network_namespace_and_good_unique_names() {
        let with = |ns: &str, devs: &str| {
            format!(r#"{{"root":{{"path":"r"}},{PROC},"linux":{{"namespaces":[{ns}],"netDevices":{devs}}}}}"#)
        };
        let net = r#"{"type":"network"}"#;
        assert!(check(spec(&with(net, r#"{"eth0":{},"eth1":{"name":"c1"}}"#))).is_ok());
        assert!(check(spec(&with(r#"{"type":"network","path":"/run/netns/x"}"#, r#"{"eth0":{}}"#))).is_ok());
        assert!(err(&with("", r#"{"eth0":{}}"#)).contains("needs a network namespace"));
        assert!(err(&with(net, r#"{"eth0":{"name":"eth1"},"eth1":{}}"#)).contains("used by another device"));
        for bad in ["", "a/b", "a b", "a:1", ".", "..", "sixteen-bytes-xx", r"nul\u0000"] {
            let e = err(&with(net, &format!(r#"{{"{bad}":{{}}}}"#)));
            assert!(e.contains("not a valid network interface name"), "{bad:?}: {e}");
            let e = err(&with(net, &format!(r#"{{"eth0":{{"name":"{bad}"}}}}"#)));
            assert!(e.contains("linux.netDevices.eth0.name"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn sysctl_needs_its_namespace() {
        let e = err(&format!(r#"{{"root":{{"path":"r"}},{PROC},"linux":{{"sysctl":{{"net.ipv4.ip_forward":"1"}}}}}}"#));
        assert!(e.contains("network namespace"), "{e}");
        let ok = format!(
            r#"{{"root":{{"path":"r"}},{PROC},"linux":{{"namespaces":[{{"type":"network"}}],"sysctl":{{"net.ipv4.ip_forward":"1"}}}}}}"#
        );
        assert!(check(spec(&ok)).is_ok());
    }

    #[test]
    fn user_namespace_needs_mappings() {
        let e = err(&format!(r#"{{"root":{{"path":"r"}},{PROC},"linux":{{"namespaces":[{{"type":"user"}}]}}}}"#));
        assert!(e.contains("uidMappings"));
    }

    /// Spelled as the spec spells it (`execCPUAffinity`, not camelCase's
    /// `execCpuAffinity`): it used to be dropped without a word.
    #[test]
    fn exec_cpu_affinity_is_not_silently_ignored() {
        let e = err(r#"{"root":{"path":"r"},"process":{"args":["a"],"cwd":"/","execCPUAffinity":{"final":"x"}}}"#);
        assert!(e.contains("process.execCPUAffinity.final"), "{e}");
    }

    #[test]
    fn idmapped_mounts_take_their_maps_or_the_containers() {
        let base = r#""root":{"path":"r"},"process":{"args":["a"],"cwd":"/"}"#;
        let userns = r#""linux":{"namespaces":[{"type":"user"},{"type":"mount"}],
            "uidMappings":[{"containerID":0,"hostID":100000,"size":10}],"gidMappings":[{"containerID":0,"hostID":100000,"size":10}]}"#;
        let c = check(spec(&format!(
            r#"{{{base},{userns},"mounts":[{{"destination":"/d","type":"bind","source":"/s","options":["rbind","ridmap"]}}]}}"#
        )))
        .unwrap();
        let o = &c.mounts[0].1;
        assert_eq!(o.idmap, Some(true));
        assert_eq!(o.id_maps.as_ref().unwrap().0[0].host_id, 100000, "the container's maps");
        let e = err(&format!(r#"{{{base},"mounts":[{{"destination":"/d","type":"tmpfs","options":["idmap"]}}]}}"#));
        assert!(e.contains("mounts[0]") && e.contains("bind"), "{e}");
        let e = err(&format!(
            r#"{{{base},"mounts":[{{"destination":"/d","type":"bind","source":"/s","options":["bind","idmap"]}}]}}"#
        ));
        assert!(e.contains("mounts[0].options") && e.contains("idmap"), "{e}");
    }
}
