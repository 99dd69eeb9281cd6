//! `linux.intelRdt`: what to write to a resctrl group's `schemata` file,
//! and whether an existing group already holds what the config asks for.
//! No kernel here: `linux::resctrl` does the writing.

use super::types::IntelRdt;
use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// The group's directory name: `closID`, else the container id.
pub fn group_name<'a>(rdt: &'a IntelRdt, id: &'a str) -> &'a str {
    rdt.clos_id.as_deref().unwrap_or(id)
}

pub fn check(rdt: &IntelRdt) -> Result<()> {
    if let Some(c) = &rdt.clos_id {
        if c.is_empty() || c == "." || c == ".." || c.contains(['/', '\0', '\n']) {
            bail!("linux.intelRdt.closID: {c:?} is not a directory name");
        }
    }
    if let Some(mb) = &rdt.mem_bw_schema {
        if !mb.starts_with("MB:") || mb.contains('\n') {
            bail!("linux.intelRdt.memBwSchema: {mb:?} must be one line starting with \"MB:\"");
        }
    }
    for (field, v) in [("l3CacheSchema", &rdt.l3_cache_schema), ("schemata", &rdt.schemata)] {
        if v.as_deref().is_some_and(|v| v.contains('\0')) {
            bail!("linux.intelRdt.{field}: contains a NUL byte");
        }
    }
    Ok(())
}

/// The writes to `schemata`, in order: l3CacheSchema and memBwSchema
/// combined (an `MB:` line of l3CacheSchema gives way to memBwSchema),
/// then `schemata` last.
pub fn writes(rdt: &IntelRdt) -> Vec<String> {
    let mut out = Vec::new();
    let combined = match (&rdt.l3_cache_schema, &rdt.mem_bw_schema) {
        (Some(l3), Some(mb)) => {
            let mut lines: Vec<&str> = l3.lines().filter(|l| !l.trim_start().starts_with("MB:")).collect();
            lines.push(mb);
            Some(lines.join("\n"))
        }
        (Some(l3), None) => Some(l3.clone()),
        (None, Some(mb)) => Some(mb.clone()),
        (None, None) => None,
    };
    out.extend(combined);
    out.extend(rdt.schemata.clone());
    out.into_iter().map(|s| format!("{}\n", s.trim_end_matches('\n'))).collect()
}

/// `RES:dom=val;dom=val` lines as resource → domain → value, values
/// without leading zeros (the kernel pads bitmasks to their width).
fn parse(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((res, doms)) = line.trim().split_once(':') else { continue };
        let m: &mut BTreeMap<String, String> = out.entry(res.trim().to_string()).or_default();
        for d in doms.split(';') {
            if let Some((dom, val)) = d.split_once('=') {
                let v = val.trim().trim_start_matches('0').to_ascii_lowercase();
                m.insert(dom.trim().to_string(), if v.is_empty() { "0".into() } else { v });
            }
        }
    }
    out
}

/// Whether an existing group's `schemata` holds every value asked for.
pub fn satisfied(existing: &str, wanted: &str) -> bool {
    let have = parse(existing);
    parse(wanted)
        .iter()
        .all(|(res, doms)| doms.iter().all(|(dom, val)| have.get(res).and_then(|h| h.get(dom)) == Some(val)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdt(l3: Option<&str>, mb: Option<&str>, schemata: Option<&str>) -> IntelRdt {
        IntelRdt {
            l3_cache_schema: l3.map(Into::into),
            mem_bw_schema: mb.map(Into::into),
            schemata: schemata.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn the_spec_rules_for_what_is_written() {
        assert!(writes(&rdt(None, None, None)).is_empty());
        assert_eq!(writes(&rdt(Some("L3:0=7f0;1=1f"), None, None)), ["L3:0=7f0;1=1f\n"]);
        assert_eq!(writes(&rdt(None, Some("MB:0=20;1=70"), None)), ["MB:0=20;1=70\n"]);
        // both: combined, and an MB line in l3CacheSchema gives way
        assert_eq!(
            writes(&rdt(Some("L3:0=7f0;1=1f\nMB:0=90"), Some("MB:0=20;1=70"), None)),
            ["L3:0=7f0;1=1f\nMB:0=20;1=70\n"]
        );
        // schemata last, after the others
        assert_eq!(
            writes(&rdt(Some("L3:0=f"), None, Some("L3:0=7f0\nL2:0=f\nMB:0=20\n"))),
            ["L3:0=f\n", "L3:0=7f0\nL2:0=f\nMB:0=20\n"]
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        let mut r = rdt(None, Some("L3:0=1"), None);
        assert!(check(&r).unwrap_err().to_string().contains("linux.intelRdt.memBwSchema"));
        r.mem_bw_schema = Some("MB:0=1\nMB:1=2".into());
        assert!(check(&r).is_err());
        for bad in ["", ".", "..", "a/b", "x\0y"] {
            let r = IntelRdt { clos_id: Some(bad.into()), ..Default::default() };
            assert!(check(&r).unwrap_err().to_string().contains("linux.intelRdt.closID"), "{bad:?}");
        }
        assert!(check(&IntelRdt { clos_id: Some("guaranteed_group".into()), ..Default::default() }).is_ok());
    }

    #[test]
    fn an_existing_group_is_compared_value_by_value() {
        let file = "    L3:0=007f0;1=0001f\n    MB:0= 20;1= 70\n";
        assert!(satisfied(file, "L3:0=7f0;1=1f"));
        assert!(satisfied(file, "L3:0=7F0\nMB:1=70"));
        assert!(!satisfied(file, "L3:0=7f0;1=ff"));
        assert!(!satisfied(file, "L2:0=f"));
        assert!(!satisfied(file, "MB:2=10"));
    }

    #[test]
    fn the_group_is_the_clos_id_or_the_container() {
        assert_eq!(group_name(&IntelRdt::default(), "c1"), "c1");
        assert_eq!(group_name(&IntelRdt { clos_id: Some("g".into()), ..Default::default() }, "c1"), "g");
    }
}
