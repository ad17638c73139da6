//! `ServerUrl`: where a server is and how to talk to it.
//!
//! `imap://host:port` (plain), `imap://host:port?starttls` or
//! `imap+starttls://host:port` (STARTTLS), `imaps://host:port` (implicit TLS).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    StartTls,
    Tls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub security: Security,
    pub host: String,
    pub port: u16,
}

impl FromStr for ServerUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("bad server address `{s}`: {why}; expected imap://host:port, imap://host:port?starttls, imap+starttls://host:port or imaps://host:port")
        };
        let (scheme, rest) = s.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let (hostport, query) = match rest.split_once('?') {
            Some((h, q)) => (h.trim_end_matches('/'), Some(q)),
            None => (rest.trim_end_matches('/'), None),
        };
        let mut security = match scheme.to_ascii_lowercase().as_str() {
            "imap" => Security::Plain,
            "imap+starttls" => Security::StartTls,
            "imaps" => Security::Tls,
            other => return Err(bad(&format!("unknown scheme `{other}`"))),
        };
        match query {
            None => {}
            Some(q) if q.eq_ignore_ascii_case("starttls") && security == Security::Plain => {
                security = Security::StartTls
            }
            Some(q) => return Err(bad(&format!("unknown option `?{q}`"))),
        }
        let default_port = if security == Security::Tls { 993 } else { 143 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| bad("the port is not a number"))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(ServerUrl {
            security,
            host,
            port,
        })
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.security {
            Security::Plain => write!(f, "imap://{host}:{}", self.port),
            Security::StartTls => write!(f, "imap://{host}:{}?starttls", self.port),
            Security::Tls => write!(f, "imaps://{host}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let u: ServerUrl = "imap://127.0.0.1:1143".parse().expect("plain");
        assert_eq!((u.security, u.port), (Security::Plain, 1143));
        let u: ServerUrl = "imap://127.0.0.1:1143?starttls".parse().expect("starttls");
        assert_eq!(u.security, Security::StartTls);
        let u: ServerUrl = "imap+starttls://localhost".parse().expect("starttls2");
        assert_eq!((u.security, u.port), (Security::StartTls, 143));
        let u: ServerUrl = "imaps://[::1]:1993".parse().expect("v6");
        assert_eq!(
            (u.security, u.host.as_str(), u.port),
            (Security::Tls, "::1", 1993)
        );
        assert!("http://x".parse::<ServerUrl>().is_err());
        assert!("imap://x:port".parse::<ServerUrl>().is_err());
        assert!("127.0.0.1:143".parse::<ServerUrl>().is_err());
    }
}
