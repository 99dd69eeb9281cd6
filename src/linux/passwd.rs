//! The image's /etc/passwd and /etc/group, read inside its root: every
//! lookup resolves with RESOLVE_IN_ROOT, so a link in the image never
//! reaches a host file, and through `files`, so a FIFO or /dev/zero there
//! is refused rather than read.

use super::inroot::Root;
use crate::files;

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// The text of `/etc/<name>` in `root`, or None when it is missing or not
/// a plain, reasonably sized file.
pub fn read_db(root: &Root, name: &str) -> Option<String> {
    let fd = root.open_at(&format!("/etc/{name}"), files::OPEN_FLAGS, 0).ok()?;
    let data = files::read_fd(fd, files::DB_LIMIT, name).ok()?;
    String::from_utf8(data).ok()
}

fn fields(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines().filter(|l| !l.starts_with('#')).map(|l| l.split(':').collect::<Vec<_>>())
}

/// The user named `who`, or with uid `who` when it is a number.
pub fn find_user(passwd: &str, who: &str) -> Option<User> {
    let by_uid: Option<u32> = who.parse().ok();
    fields(passwd).filter(|f| f.len() >= 6).find_map(|f| {
        let uid: u32 = f[2].parse().ok()?;
        if f[0] != who && by_uid != Some(uid) {
            return None;
        }
        Some(User { name: f[0].to_string(), uid, gid: f[3].parse().ok()?, home: f[5].to_string() })
    })
}

/// The gid of the group named `name`.
pub fn find_group(group: &str, name: &str) -> Option<u32> {
    fields(group).filter(|f| f.len() >= 3 && f[0] == name).find_map(|f| f[2].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbad line\nweb:x:33:44::/var/www:/bin/false\n";

    #[test]
    fn users_by_name_and_uid() {
        assert_eq!(find_user(PASSWD, "web").map(|u| (u.uid, u.gid, u.home)), Some((33, 44, "/var/www".into())));
        assert_eq!(find_user(PASSWD, "33").map(|u| u.name), Some("web".into()));
        assert_eq!(find_user(PASSWD, "nobody"), None);
        assert_eq!(find_group("wheel:x:10:root\n", "wheel"), Some(10));
        assert_eq!(find_group("wheel:x:10:root\n", "x"), None);
    }

    #[test]
    fn links_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("berth-passwd-{}", std::process::id()));
        let etc = dir.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        let host = dir.join("host-passwd");
        std::fs::write(&host, "evil:x:4242:4242::/:/bin/sh\n").unwrap();
        // An absolute link to a file outside the root resolves inside it (and misses).
        std::os::unix::fs::symlink(&host, etc.join("passwd")).unwrap();
        let root = Root::open(&dir).unwrap();
        assert_eq!(read_db(&root, "passwd"), None);
        // A link to /dev/zero is refused, not read.
        std::os::unix::fs::symlink("/dev/zero", etc.join("group")).unwrap();
        assert_eq!(read_db(&root, "group"), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
