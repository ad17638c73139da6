//! IDLE (RFC 2177): untagged updates pushed until DONE.

use std::sync::Arc;
use std::time::Duration;

use crate::server::imap::io::{Io, ReadError};
use crate::server::imap::session::Session;

impl Session {
    /// IDLE until DONE; false if the connection must end.
    pub async fn idle(&mut self, tag: &str, io: &mut Io) -> bool {
        let ctx = Arc::clone(&self.ctx);
        let mut shutdown = ctx.shutdown.clone();
        let started = ctx.clock.elapsed();
        let drop_at = ctx.faults.idle_drop().map(|d| started + d);
        // Under the idle-drop fault the drop replaces the autologout, as on
        // seed 001's server (which timed out the session without a BYE).
        let deadline = match drop_at {
            Some(_) => started + Duration::from_secs(365 * 24 * 3600),
            None => started + ctx.inactivity(),
        };
        loop {
            let mailbox = self.selected.as_ref().map(|s| Arc::clone(&s.mailbox));
            let notified = async {
                match &mailbox {
                    Some(mb) => mb.notify.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(notified);
            self.sync(true, false, io);
            if io.flush().await.is_err() {
                return false;
            }
            let now = ctx.clock.elapsed();
            let until_logout = deadline.saturating_sub(now);
            let until_drop = drop_at.map(|d| d.saturating_sub(now));
            let keepalive = ctx.keepalive.min(until_logout);
            tokio::select! {
                line = io.read_line(ctx.limits.max_line) => {
                    return match line {
                        Ok(l) if l.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                            if ctx.faults.has(&crate::server::faults::Fault::DoneDropsPipelined) {
                                // The fault: what came with DONE is lost.
                                io.discard_input();
                            }
                            self.sync(true, false, io);
                            io.write(&format!("{tag} OK IDLE terminated\r\n"));
                            true
                        }
                        Ok(_) => {
                            io.write(&format!("{tag} BAD Expected DONE\r\n"));
                            true
                        }
                        Err(ReadError::TooLong) => {
                            io.write(&format!("{tag} BAD Expected DONE\r\n"));
                            true
                        }
                        Err(_) => false,
                    };
                }
                _ = &mut notified => {}
                _ = ctx.clock.sleep(keepalive) => {
                    if ctx.clock.elapsed() >= deadline {
                        io.write(&format!(
                            "* BYE Autologout; idle for more than {}\r\n",
                            crate::source::human_duration(ctx.inactivity())
                        ));
                        return false;
                    }
                    io.write("* OK Still here\r\n");
                }
                _ = async {
                    match until_drop {
                        Some(d) => ctx.clock.sleep(d).await,
                        None => std::future::pending().await,
                    }
                } => {
                    // Seed 001's server: the idling session is dropped, no BYE.
                    io.out.clear();
                    io.conn = crate::server::imap::io::Conn::Gone;
                    return false;
                }
                _ = shutdown.changed() => {
                    io.write("* BYE Server shutting down\r\n");
                    return false;
                }
            }
        }
    }
}
