//! /proc/self/mountinfo, parsed once for everyone who reads it (the rootfs
//! setup, `--no-pivot`, the cgroup layout).

/// One line: the fields berth uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The mount's id (unique while it is mounted).
    pub id: u64,
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
            // Fields by position, without collecting the line.
            let mut l = left.split(' ');
            let id = l.next()?.parse().ok()?;
            let root = l.nth(2)?;
            let mount_point = l.next()?;
            let mut r = right.split(' ');
            let fstype = r.next()?;
            let super_options = r.nth(1)?;
            Some(Entry {
                id,
                root: root.to_string(),
                mount_point: mount_point.to_string(),
                fstype: fstype.to_string(),
                super_options: super_options.to_string(),
            })
        })
        .collect()
}

/// A path as mountinfo writes it (space, tab, newline and backslash as
/// octal escapes), for comparing with its fields.
pub fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' | '\t' | '\n' | '\\' => out.push_str(&format!("\\{:03o}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The path a mountinfo field names (the inverse of `escape`).
pub fn unescape(field: &str) -> String {
    field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")
}

/// This process's mount table.
pub fn read() -> std::io::Result<Vec<Entry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_escaped_as_the_kernel_writes_them() {
        assert_eq!(escape("/a b/c\\d\te"), "/a\\040b/c\\134d\\011e");
        assert_eq!(escape("/plain"), "/plain");
        assert_eq!(unescape(&escape("/a b/c\\d\te\n")), "/a b/c\\d\te\n");
    }

    #[test]
    fn fields_and_bad_lines() {
        let t = "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\nshort line\n";
        assert_eq!(
            parse(t),
            [Entry {
                id: 36,
                root: "/mnt1".into(),
                mount_point: "/mnt2".into(),
                fstype: "ext3".into(),
                super_options: "rw,errors=continue".into()
            }]
        );
    }
}
