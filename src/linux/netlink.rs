//! A small rtnetlink client: what moving a network device between
//! namespaces takes (look a link up, set it up or down, move and rename it,
//! copy its permanent addresses). One request at a time, each acknowledged.

use super::sys;
use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const HDR: usize = 16; // struct nlmsghdr
const IFINFO: usize = 16; // struct ifinfomsg
const IFADDR: usize = 8; // struct ifaddrmsg
const IFNAMSIZ: usize = 16;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// A netlink message under construction: header, fixed part, attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Msg {
        let mut v = vec![0u8; HDR];
        v[4..6].copy_from_slice(&kind.to_ne_bytes());
        v[6..8].copy_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
        v.extend_from_slice(fixed);
        v.resize(align(v.len()), 0);
        Msg(v)
    }

    fn attr(mut self, kind: u16, data: &[u8]) -> Msg {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(align(self.0.len()), 0);
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.0
    }
}

fn ifinfo(index: i32, flags: u32, change: u32) -> [u8; IFINFO] {
    let mut b = [0u8; IFINFO];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

fn cstr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// The messages in one datagram: (type, payload after the header).
pub fn split(buf: &[u8]) -> Result<Vec<(u16, &[u8])>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HDR <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len < HDR || at + len > buf.len() {
            bail!("netlink: a message claims {len} bytes, {} remain", buf.len() - at);
        }
        let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
        out.push((kind, &buf[at + HDR..at + len]));
        at += align(len);
    }
    Ok(out)
}

/// The attributes after a message's fixed part: (type, data).
pub fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16::from_ne_bytes([b[2], b[3]]) & 0x3fff, &b[4..len]));
        b = &b[align(len).min(b.len())..];
    }
    out
}

/// A NETLINK_ROUTE socket; it acts in the network namespace it was made in.
pub struct Route {
    fd: OwnedFd,
    seq: u32,
}

impl Route {
    /// A socket in berth's own network namespace.
    pub fn open() -> Result<Route> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = sys::cvt(unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        })
        .context("opening a netlink socket")?;
        // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
        Ok(Route { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: 0 })
    }

    /// A socket in the network namespace `ns` refers to: berth steps into
    /// it for the socket(2) call and straight back (a socket stays in the
    /// namespace it was made in). Berth is single-threaded here.
    pub fn open_in(ns: BorrowedFd<'_>, own: BorrowedFd<'_>) -> Result<Route> {
        use nix::sched::{setns, CloneFlags};
        setns(ns, CloneFlags::CLONE_NEWNET).context("joining the container's network namespace")?;
        let r = Route::open();
        setns(own, CloneFlags::CLONE_NEWNET).context("returning to berth's network namespace")?;
        r
    }

    fn send(&mut self, m: Msg) -> Result<()> {
        self.seq += 1;
        let data = m.finish(self.seq);
        // SAFETY: data is a valid buffer of its length; the kernel is the peer.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
        if n < 0 || n as usize != data.len() {
            return Err(std::io::Error::last_os_error()).context("netlink: sending a request");
        }
        Ok(())
    }

    fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: buf is valid for writes of its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("netlink: reading the answer");
        }
        Ok(n as usize)
    }

    /// Sends a request and collects every answer up to the ack (or the end
    /// of a dump): the payloads of the messages of type `want`.
    fn call(&mut self, m: Msg, want: u16) -> Result<Vec<Vec<u8>>> {
        self.send(m)?;
        let mut buf = vec![0u8; 32 * 1024];
        let mut out = Vec::new();
        loop {
            let n = self.recv(&mut buf)?;
            for (kind, payload) in split(&buf[..n])? {
                match kind as i32 {
                    libc::NLMSG_ERROR => {
                        let errno = payload
                            .get(..4)
                            .map(|b| i32::from_ne_bytes(b.try_into().expect("4 bytes")))
                            .unwrap_or(-libc::EPROTO);
                        if errno != 0 {
                            return Err(std::io::Error::from_raw_os_error(-errno).into());
                        }
                        return Ok(out);
                    }
                    libc::NLMSG_DONE => return Ok(out),
                    _ if kind == want => out.push(payload.to_vec()),
                    _ => {}
                }
            }
        }
    }

    /// The index of the link called `name`, or None when there is none.
    pub fn index(&mut self, name: &str) -> Result<Option<i32>> {
        if name.len() >= IFNAMSIZ {
            bail!("{name:?} is longer than an interface name can be");
        }
        let m =
            Msg::new(libc::RTM_GETLINK, libc::NLM_F_ACK as u16, &ifinfo(0, 0, 0)).attr(libc::IFLA_IFNAME, &cstr(name));
        match self.call(m, libc::RTM_NEWLINK) {
            Ok(links) => {
                Ok(links.first().and_then(|l| l.get(4..8)).map(|b| i32::from_ne_bytes(b.try_into().expect("4"))))
            }
            Err(e) if e.downcast_ref::<std::io::Error>().and_then(|e| e.raw_os_error()) == Some(libc::ENODEV) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub fn set_up(&mut self, index: i32, up: bool) -> Result<()> {
        let flags = if up { libc::IFF_UP as u32 } else { 0 };
        let m = Msg::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16, &ifinfo(index, flags, libc::IFF_UP as u32));
        self.call(m, 0).map(drop)
    }

    /// Moves link `index` into the namespace `ns` refers to, named `name`
    /// there (one request, so the name is never taken in between).
    pub fn move_to(&mut self, index: i32, name: &str, ns: BorrowedFd<'_>) -> Result<()> {
        let m = Msg::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16, &ifinfo(index, 0, 0))
            .attr(libc::IFLA_IFNAME, &cstr(name))
            .attr(libc::IFLA_NET_NS_FD, &ns.as_raw_fd().to_ne_bytes());
        self.call(m, 0).map(drop)
    }

    /// The permanent addresses of link `index` (those an administrator set,
    /// not those the kernel made), as RTM_NEWADDR payloads.
    pub fn permanent_addresses(&mut self, index: i32) -> Result<Vec<Vec<u8>>> {
        let m = Msg::new(libc::RTM_GETADDR, libc::NLM_F_DUMP as u16, &[0u8; IFADDR]);
        let all = self.call(m, libc::RTM_NEWADDR)?;
        Ok(all.into_iter().filter(|a| is_permanent_of(a, index)).collect())
    }

    /// Adds an address taken by `permanent_addresses` to link `index`.
    pub fn add_address(&mut self, index: i32, addr: &[u8]) -> Result<()> {
        let Some(fixed) = addr.get(..IFADDR) else { bail!("netlink: an address message is too short") };
        let mut fixed: [u8; IFADDR] = fixed.try_into().expect("8 bytes");
        fixed[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
        let flags = (libc::NLM_F_ACK | libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        let mut m = Msg::new(libc::RTM_NEWADDR, flags, &fixed);
        for (kind, data) in attrs(&addr[IFADDR..]) {
            // The label names the old link and the cache info its lifetimes:
            // the kernel makes both anew.
            if matches!(kind, libc::IFA_ADDRESS | libc::IFA_LOCAL | libc::IFA_BROADCAST | libc::IFA_FLAGS) {
                m = m.attr(kind, data);
            }
        }
        self.call(m, 0).map(drop)
    }
}

fn is_permanent_of(a: &[u8], index: i32) -> bool {
    let Some(fixed) = a.get(..IFADDR) else { return false };
    let of = u32::from_ne_bytes(fixed[4..8].try_into().expect("4 bytes")) as i32 == index;
    let mut flags = fixed[2] as u32;
    for (kind, data) in attrs(&a[IFADDR..]) {
        if kind == libc::IFA_FLAGS && data.len() >= 4 {
            flags = u32::from_ne_bytes(data[..4].try_into().expect("4 bytes"));
        }
    }
    of && flags & libc::IFA_F_PERMANENT != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_laid_out_as_the_kernel_reads_them() {
        let m = Msg::new(libc::RTM_NEWLINK, libc::NLM_F_ACK as u16, &ifinfo(7, 1, 1)).attr(libc::IFLA_IFNAME, b"ab\0");
        let b = m.finish(9);
        assert_eq!(b.len(), 16 + 16 + 8); // 4 + 3 bytes of attribute, padded to 8
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes(b[6..8].try_into().unwrap()), (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 9);
        assert_eq!(i32::from_ne_bytes(b[20..24].try_into().unwrap()), 7);
        assert_eq!(&b[32..40], &[7, 0, 3, 0, b'a', b'b', 0, 0]);
    }

    #[test]
    fn lying_lengths_are_refused_or_stop_the_walk() {
        let mut b = vec![0u8; 20];
        b[0..4].copy_from_slice(&64u32.to_ne_bytes());
        assert!(split(&b).is_err());
        b[0..4].copy_from_slice(&8u32.to_ne_bytes());
        assert!(split(&b).is_err());
        // an attribute longer than what is left ends the list
        assert!(attrs(&[200, 0, 1, 0, 1, 2]).is_empty());
        assert_eq!(attrs(&[5, 0, 1, 0, 9, 0, 0, 0]), vec![(1, &[9u8][..])]);
    }

    #[test]
    fn only_permanent_addresses_of_the_link_are_taken() {
        let addr = |index: u32, flags: u8, ext: Option<u32>| {
            let mut v = vec![libc::AF_INET as u8, 24, flags, 0];
            v.extend_from_slice(&index.to_ne_bytes());
            if let Some(f) = ext {
                v.extend_from_slice(&[8, 0, libc::IFA_FLAGS as u8, 0]);
                v.extend_from_slice(&f.to_ne_bytes());
            }
            v
        };
        assert!(is_permanent_of(&addr(3, libc::IFA_F_PERMANENT as u8, None), 3));
        assert!(!is_permanent_of(&addr(4, libc::IFA_F_PERMANENT as u8, None), 3));
        assert!(!is_permanent_of(&addr(3, 0, None), 3));
        // IFA_FLAGS, when there, is the whole truth
        assert!(is_permanent_of(&addr(3, 0, Some(libc::IFA_F_PERMANENT)), 3));
        assert!(!is_permanent_of(&addr(3, libc::IFA_F_PERMANENT as u8, Some(0)), 3));
    }
}
