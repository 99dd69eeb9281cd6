//! User-namespace id maps and time-namespace offsets, written by the parent.

use super::procfs::Proc;
use crate::spec::types::{IdMapping, TimeOffset};
use anyhow::{Context, Result};
use std::collections::BTreeMap;

pub fn format(maps: &[IdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size)).collect()
}

pub fn write(proc: &Proc, pid: i32, uid: &[IdMapping], gid: &[IdMapping]) -> Result<()> {
    proc.write(&format!("{pid}/uid_map"), format(uid).as_bytes())
        .with_context(|| format!("linux.uidMappings: writing {:?}", format(uid).trim()))?;
    proc.write(&format!("{pid}/gid_map"), format(gid).as_bytes())
        .with_context(|| format!("linux.gidMappings: writing {:?}", format(gid).trim()))?;
    Ok(())
}

pub fn write_time_offsets(proc: &Proc, pid: i32, offsets: &BTreeMap<String, TimeOffset>) -> Result<()> {
    let text: String = offsets.iter().map(|(k, o)| format!("{k} {} {}\n", o.secs, o.nanosecs)).collect();
    proc.write(&format!("{pid}/timens_offsets"), text.as_bytes())
        .with_context(|| format!("linux.timeOffsets: writing {:?}", text.trim()))
}

/// Whether `id` is mapped by one of `maps` (inside the namespace).
pub fn maps_inside(maps: &[IdMapping], id: u32) -> bool {
    maps.iter().any(|m| id >= m.container_id && id - m.container_id < m.size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_ranges() {
        let m = [
            IdMapping { container_id: 0, host_id: 100000, size: 1 },
            IdMapping { container_id: 1, host_id: 200001, size: 65535 },
        ];
        assert_eq!(format(&m), "0 100000 1\n1 200001 65535\n");
        assert!(maps_inside(&m, 0) && maps_inside(&m, 65535) && !maps_inside(&m, 65536));
    }
}
