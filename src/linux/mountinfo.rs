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

/// One line as borrowed text: the same fields, for a reader that keeps
/// few of the lines (no allocation per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    pub id: u64,
    pub root: &'a str,
    pub mount_point: &'a str,
    pub fstype: &'a str,
    pub super_options: &'a str,
}

/// Every well-formed line of `text`, in order (later mounts last).
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    text.split('\n').filter_map(line)
}

/// Fields by position in one pass over the words: id, parent, dev, root,
/// mount point, options, optional fields up to `-`, fstype, source,
/// super options.
fn line(text: &str) -> Option<Line<'_>> {
    let mut w = text.split(' ');
    let id = w.next()?.parse().ok()?;
    let root = w.nth(2)?;
    let mount_point = w.next()?;
    w.find(|f| *f == "-")?;
    let fstype = w.next()?;
    let super_options = w.nth(1)?;
    Some(Line { id, root, mount_point, fstype, super_options })
}

/// Every well-formed line of `text`, owned.
pub fn parse(text: &str) -> Vec<Entry> {
    lines(text)
        .map(|l| Entry {
            id: l.id,
            root: l.root.to_string(),
            mount_point: l.mount_point.to_string(),
            fstype: l.fstype.to_string(),
            super_options: l.super_options.to_string(),
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
        // No optional fields, or several; a line cut before its super options.
        let t = "22 1 0:20 / /sys rw - sysfs sysfs rw\n23 1 0:21 / /a rw shared:2 master:1 - tmpfs t rw,size=4k\n24 1 0:22 / /b rw - tmpfs t";
        let got: Vec<(u64, &str, &str)> = lines(t).map(|l| (l.id, l.fstype, l.super_options)).collect();
        assert_eq!(got, [(22, "sysfs", "rw"), (23, "tmpfs", "rw,size=4k")]);
    }
}
