//! /proc/self/mountinfo, parsed once for everyone who reads it (the rootfs
//! setup, `--no-pivot`, the cgroup layout).

/// One line: the fields berth uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The root of the mount within its filesystem (`/` for a full mount).
    pub root: String,
    pub mount_point: String,
    pub fstype: String,
    /// The filesystem's own (super block) options.
    pub super_options: String,
}

/// Every well-formed line of `text`, in order (later mounts last).
pub fn parse(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                return None;
            }
            Some(Entry {
                root: l[3].to_string(),
                mount_point: l[4].to_string(),
                fstype: r[0].to_string(),
                super_options: r[2].to_string(),
            })
        })
        .collect()
}

/// This process's mount table.
pub fn read() -> std::io::Result<Vec<Entry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_bad_lines() {
        let t = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\nshort line\n";
        assert_eq!(
            parse(t),
            [Entry {
                root: "/mnt1".into(),
                mount_point: "/mnt2".into(),
                fstype: "ext3".into(),
                super_options: "rw,errors=continue".into()
            }]
        );
    }
}
