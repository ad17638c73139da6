//! Admission of new IMAP connections: the global cap and the per-IP cap.
//!
//! Every accepted IMAP or IMAPS connection asks for a `Permit` before it is
//! greeted; the permit counts it until the connection's task ends (dropping the
//! permit gives the place back, whatever way the task ends). A connection over a
//! cap is answered `* BYE [UNAVAILABLE]` (RFC 5530: "the server is currently
//! unable to process the request") instead of a greeting, and closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct Admission {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// One admitted connection's place; given back on drop.
pub struct Permit {
    admission: Arc<Admission>,
    ip: IpAddr,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Total(usize),
    PerIp(IpAddr, usize),
}

impl Refusal {
    /// The one line sent instead of a greeting (RFC 3501 7.1.5 allows BYE as
    /// the greeting of a server that will not accept the connection).
    pub fn bye(&self) -> String {
        match self {
            Refusal::Total(n) => format!(
                "* BYE [UNAVAILABLE] Too many connections (the server holds at most {n}); try again later\r\n"
            ),
            Refusal::PerIp(ip, n) => format!(
                "* BYE [UNAVAILABLE] Too many connections from {ip} (at most {n} per address); try again later\r\n"
            ),
        }
    }
}

impl Admission {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Admission {
            max_total: max_total.max(1),
            max_per_ip: max_per_ip.max(1),
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for a connection from `ip`, or why there is none.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        // An IPv4 client on a dual-stack socket is the same host either way.
        let ip = ip.to_canonical();
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.max_total {
            return Err(Refusal::Total(self.max_total));
        }
        let from_ip = c.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp(ip, self.max_per_ip));
        }
        c.total += 1;
        c.per_ip.insert(ip, from_ip + 1);
        Ok(Permit {
            admission: Arc::clone(self),
            ip,
        })
    }

    /// Connections admitted and not yet ended.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(|p| p.into_inner()).total
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut c = self
            .admission
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Forget the address, so the map holds only addresses with
                // open connections (a scan from many addresses leaves nothing).
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_and_give_back() {
        let a = Admission::new(3, 2);
        let one: IpAddr = "127.0.0.1".parse().unwrap();
        let two: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = a.admit(one).unwrap();
        let _p2 = a.admit(one).unwrap();
        assert_eq!(a.admit(one).err(), Some(Refusal::PerIp(one, 2)));
        let _p3 = a.admit(two).unwrap();
        assert_eq!(a.admit(two).err(), Some(Refusal::Total(3)));
        drop(p1);
        assert_eq!(a.open(), 2);
        assert!(a.admit(one).is_ok());
        // The same host through an IPv4-mapped IPv6 address counts as itself.
        let b = Admission::new(10, 1);
        let _held = b.admit(two).unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        assert_eq!(b.admit(mapped).err(), Some(Refusal::PerIp(two, 1)));
    }
}
