//! CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE (PLAIN, and for client developers
//! XOAUTH2 and OAUTHBEARER, RFC 7628, whose bearer token is the user's
//! password here) and LOGOUT. SASL-IR (RFC 4959): the initial response may
//! come on the AUTHENTICATE line.

use base64::Engine as _;

use crate::server::imap::io::{Io, ReadError};
use crate::server::imap::session::{Outcome, Session};

/// The SASL mechanisms AUTHENTICATE takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    /// Google's XOAUTH2: `user=U\x01auth=Bearer T\x01\x01`.
    XOAuth2,
    /// RFC 7628: `n,a=U,\x01...auth=Bearer T\x01\x01`.
    OAuthBearer,
}

impl Mechanism {
    fn parse(name: &str) -> Option<Mechanism> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "XOAUTH2" => Some(Mechanism::XOAuth2),
            "OAUTHBEARER" => Some(Mechanism::OAuthBearer),
            _ => None,
        }
    }

    /// The user and the secret (password or bearer token) in a client's
    /// response, or `None` when it is malformed.
    fn credentials(self, raw: &[u8]) -> Option<(String, String)> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match self {
            Mechanism::Plain => {
                let mut parts = raw.split(|&b| b == 0);
                let (_authz, user, pass) = (parts.next(), parts.next(), parts.next());
                Some((text(user?), text(pass?)))
            }
            Mechanism::XOAuth2 | Mechanism::OAuthBearer => {
                let mut user = None;
                let mut token = None;
                for (i, field) in raw.split(|&b| b == 0x01).enumerate() {
                    let field = text(field);
                    if i == 0 && self == Mechanism::OAuthBearer {
                        // gs2-header: `n,a=user,` (RFC 7628 3.1).
                        user = field
                            .split(',')
                            .find_map(|p| p.strip_prefix("a="))
                            .map(str::to_string);
                        continue;
                    }
                    if let Some(u) = field.strip_prefix("user=") {
                        user = Some(u.to_string());
                    } else if let Some(a) = field.strip_prefix("auth=") {
                        let (scheme, t) = a.split_once(' ')?;
                        if !scheme.eq_ignore_ascii_case("Bearer") {
                            return None;
                        }
                        token = Some(t.to_string());
                    }
                }
                Some((user?, token?))
            }
        }
    }
}

impl Session {
    pub(in crate::server::imap) fn cmd_capability(&self, tag: &str, io: &mut Io) {
        let caps = self.capabilities(io);
        io.write(&format!(
            "* CAPABILITY {caps}\r\n{tag} OK CAPABILITY completed\r\n"
        ));
    }

    pub(in crate::server::imap) fn cmd_logout(&self, tag: &str, io: &mut Io) -> Outcome {
        io.write(&format!(
            "* BYE Logging out\r\n{tag} OK LOGOUT completed\r\n"
        ));
        Outcome::Logout
    }

    pub(in crate::server::imap) fn cmd_starttls(&self, tag: &str, io: &mut Io) -> Outcome {
        if self.ctx.tls.is_none() || io.is_tls() {
            io.write(&format!("{tag} BAD STARTTLS not available\r\n"));
        } else if self.user().is_some() {
            io.write(&format!("{tag} BAD STARTTLS only before login\r\n"));
        } else {
            io.write(&format!("{tag} OK Begin TLS negotiation now\r\n"));
            // Anything the client pipelined after STARTTLS is dropped.
            io.discard_input();
            return Outcome::StartTls;
        }
        Outcome::Continue
    }

    pub(in crate::server::imap) fn cmd_login(
        &mut self,
        tag: &str,
        username: &[u8],
        password: &[u8],
        io: &mut Io,
    ) {
        let user = String::from_utf8_lossy(username).into_owned();
        let pass = String::from_utf8_lossy(password).into_owned();
        self.login(tag, &user, &pass, io);
    }

    pub(in crate::server::imap) fn cmd_authenticate(
        &self,
        tag: String,
        mechanism: &str,
        initial: Option<Vec<u8>>,
        io: &mut Io,
    ) -> Outcome {
        if self.user().is_some() {
            io.write(&format!("{tag} BAD Already authenticated\r\n"));
        } else if let Some(mechanism) = Mechanism::parse(mechanism) {
            return Outcome::Authenticate {
                tag,
                mechanism,
                initial,
            };
        } else {
            io.write(&format!(
                "{tag} NO [CANNOT] AUTHENTICATE takes PLAIN, XOAUTH2 or OAUTHBEARER\r\n"
            ));
        }
        Outcome::Continue
    }

    fn login(&mut self, tag: &str, user: &str, pass: &str, io: &mut Io) {
        if self.user.is_some() {
            io.write(&format!("{tag} BAD Already authenticated\r\n"));
        } else if !self.ctx.store.check_password(user, pass) {
            io.write(&format!(
                "{tag} NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
            ));
        } else if !self.ctx.login(user) {
            io.write(&format!(
                "{tag} NO [LIMIT] Too many connections for {user}\r\n"
            ));
        } else {
            self.user = Some(user.to_string());
            io.write(&format!(
                "{tag} OK [CAPABILITY {}] Logged in\r\n",
                self.capabilities(io)
            ));
        }
    }

    /// AUTHENTICATE, reading the SASL line after `+` if needed.
    pub async fn authenticate(
        &mut self,
        tag: &str,
        mechanism: Mechanism,
        initial: Option<Vec<u8>>,
        io: &mut Io,
    ) -> bool {
        let raw = match initial {
            Some(r) => r,
            None => {
                io.write("+ \r\n");
                if io.flush().await.is_err() {
                    return false;
                }
                // Not logged in yet: the pre-login timeout bounds the wait.
                let wait = self.ctx.limits.prelogin_timeout.min(self.ctx.inactivity());
                let line = match io.read_line_within(self.ctx.limits.max_line, wait).await {
                    Ok(l) => l,
                    Err(ReadError::TooLong) => {
                        // The over-long line has been read through and
                        // dropped, so the connection can go on; the client
                        // hears why (never a silent close).
                        io.write(&format!(
                            "{tag} BAD [TOOBIG] Authentication response longer than {} bytes\r\n",
                            self.ctx.limits.max_line
                        ));
                        return true;
                    }
                    Err(ReadError::Timeout) => {
                        io.write("* BYE Timed out waiting for the authentication response\r\n");
                        return false;
                    }
                    Err(_) => return false,
                };
                let text = String::from_utf8_lossy(&line).trim().to_string();
                if text == "*" {
                    io.write(&format!("{tag} BAD Authentication cancelled\r\n"));
                    return true;
                }
                match base64::engine::general_purpose::STANDARD.decode(text) {
                    Ok(r) => r,
                    Err(_) => {
                        io.write(&format!("{tag} BAD Invalid base64\r\n"));
                        return true;
                    }
                }
            }
        };
        match mechanism.credentials(&raw) {
            Some((user, secret)) => self.login(tag, &user, &secret, io),
            None => io.write(&format!("{tag} BAD Malformed {mechanism:?} response\r\n")),
        }
        true
    }
}
