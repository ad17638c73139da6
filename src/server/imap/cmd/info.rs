//! ENABLE (RFC 5161), ID (RFC 2971) and NAMESPACE (RFC 2342).

use crate::server::imap::io::Io;
use crate::server::imap::session::Session;

impl Session {
    /// Turns on the extensions this server has that need ENABLE: CONDSTORE
    /// and QRESYNC (RFC 7162 3.2.3: QRESYNC implies CONDSTORE), and
    /// IMAP4rev2 (RFC 9051 appendix A). RFC 5161 3.1:
    /// "The ENABLED response ... lists the capabilities that were enabled"
    /// by this command; unknown ones are ignored, as are ones on already.
    pub(in crate::server::imap) fn cmd_enable(&mut self, tag: &str, names: &[String], io: &mut Io) {
        let mut enabled = Vec::new();
        for name in names {
            match name.to_ascii_uppercase().as_str() {
                "CONDSTORE" if !self.condstore => {
                    self.condstore = true;
                    enabled.push("CONDSTORE");
                }
                "QRESYNC" if !self.qresync => {
                    self.qresync = true;
                    self.condstore = true;
                    enabled.push("QRESYNC");
                }
                "IMAP4REV2" if !self.rev2 => {
                    self.rev2 = true;
                    enabled.push("IMAP4rev2");
                }
                // RFC 6855 3 (and RFC 9755, which replaces it): UTF-8 in quoted
                // strings and mailbox names, both ways, from now on.
                "UTF8=ACCEPT" if !self.utf8 => {
                    self.utf8 = true;
                    enabled.push("UTF8=ACCEPT");
                }
                _ => {}
            }
        }
        let mut line = String::from("* ENABLED");
        for e in enabled {
            line.push(' ');
            line.push_str(e);
        }
        io.write(&format!("{line}\r\n{tag} OK ENABLE completed\r\n"));
    }

    pub(in crate::server::imap) fn cmd_id(&self, tag: &str, io: &mut Io) {
        io.write(&format!(
            "* ID (\"name\" \"imapspec\" \"version\" \"{}\")\r\n{tag} OK ID completed\r\n",
            env!("CARGO_PKG_VERSION")
        ));
    }

    pub(in crate::server::imap) fn cmd_namespace(&self, tag: &str, io: &mut Io) {
        io.write(&format!(
            "* NAMESPACE ((\"{}\" \"{}\")) NIL NIL\r\n{tag} OK NAMESPACE completed\r\n",
            self.ctx.personal_namespace.as_deref().unwrap_or(""),
            self.ctx.delimiter()
        ));
    }
}
