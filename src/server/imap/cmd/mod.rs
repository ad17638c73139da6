//! The IMAP command handlers, one file per command or family (as mini-redis's
//! `cmd/`). Each file adds methods to `Session`; `Session::handle` only checks
//! the state a command needs and dispatches here.

mod append;
mod auth;
mod compress;
mod copy;
mod expunge;
mod fetch;
mod idle;
mod info;
mod list;
mod mailbox;
mod quota;
mod search;
mod select;
mod sort;
mod status;
mod store;

pub use auth::Mechanism;
pub use compress::add_compress_capability;
pub use list::{list_pattern, plain_list};
pub use store::StoreArgs;
