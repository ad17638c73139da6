//! ENABLE, ID (RFC 2971) and NAMESPACE (RFC 2342).

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    pub(in crate::server::imap) fn cmd_enable(&self, tag: &str, io: &mut Io) {
        io.write(&format!("* ENABLED\r\n{tag} OK ENABLE completed\r\n"));
    }

    pub(in crate::server::imap) fn cmd_id(&self, tag: &str, io: &mut Io) {
        io.write(&format!(
            "* ID (\"name\" \"imapspec\" \"version\" \"{}\")\r\n{tag} OK ID completed\r\n",
            env!("CARGO_PKG_VERSION")
        ));
    }

    pub(in crate::server::imap) fn cmd_namespace(&self, tag: &str, io: &mut Io) {
        io.write(&format!(
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{tag} OK NAMESPACE completed\r\n"
        ));
    }
}
