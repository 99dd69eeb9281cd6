//! Kernel primitives the runtime is built from.

pub mod caps;
pub mod console;
pub mod dbus;
pub mod devices;
pub mod exeseal;
pub mod fdpass;
pub mod idmap;
pub mod inroot;
pub mod lsm;
pub mod mmlayout;
pub mod mountinfo;
pub mod mounts;
pub mod netdev;
pub mod netlink;
pub mod passwd;
pub mod procfs;
pub mod resctrl;
pub mod rlimits;
pub mod rootfs;
pub mod rootless;
pub mod sched;
pub mod signals;
pub mod sys;
pub mod user;
