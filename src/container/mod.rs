//! Containers on disk and their lifecycle: records, status, the state
//! directory, start/kill/delete.

pub mod head;
pub mod journal;
pub mod lifecycle;
pub mod netdevs;
pub mod notify;
pub mod state;
pub mod store;
pub mod summary;
