//! Where scenarios run: the embedded reference server (started in-process on
//! loopback ports, accounts provisioned per scenario, compressed clock) or a
//! foreign server given by URL with its test accounts.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::clock::Clock;
use crate::scenario::{Scenario, Security};
use crate::server::{Config, Handle, Server, User};
use crate::session::ServerUrl;

#[derive(Debug, Clone)]
pub struct Account {
    pub user: String,
    pub password: String,
}

pub enum Target {
    Embedded {
        handle: Handle,
        faults: Vec<String>,
        /// Where plain and STARTTLS sessions connect instead of the server's
        /// IMAP port: a test's proxy that rewrites what the server says (for
        /// example FETCH items in another order), keeping the compressed clock.
        front: Option<SocketAddr>,
    },
    Foreign {
        url: ServerUrl,
        /// The implicit-TLS address, for `tls` sessions; without it they use
        /// STARTTLS on `url` (still TLS records, as the scenario wants).
        tls_url: Option<ServerUrl>,
        accounts: Vec<Account>,
        smtp: Option<SocketAddr>,
        insecure: bool,
        clock: Clock,
        /// An account that may SETQUOTA (RFC 9208 4.1.3), for scenarios whose
        /// precondition is a quota (`--admin USER:PASS`).
        admin: Option<Account>,
    },
}

/// Virtual seconds per real second on the embedded server: a 31-minute IDLE
/// takes under two seconds, and a step that takes 100 ms of real time is still
/// well under the 30-minute autologout.
pub const EMBEDDED_SPEEDUP: f64 = 1000.0;

/// How the embedded server is set up beyond its accounts and faults.
#[derive(Debug, Clone)]
pub struct EmbeddedSetup {
    /// Virtual seconds per real second.
    pub speedup: f64,
    /// A personal namespace prefix such as `INBOX.` (see `Config`).
    pub personal_namespace: Option<String>,
}

impl Default for EmbeddedSetup {
    fn default() -> Self {
        EmbeddedSetup {
            speedup: EMBEDDED_SPEEDUP,
            personal_namespace: None,
        }
    }
}

impl Target {
    /// Starts the embedded server with an account for every (scenario, user).
    pub async fn embedded(scenarios: &[Scenario], faults: &[String]) -> Result<Target, String> {
        Self::embedded_with(scenarios, faults, EmbeddedSetup::default()).await
    }

    /// The same, set up otherwise: a slower compressed clock (tests that put a
    /// proxy in front of the server give its timers more room), or a personal
    /// namespace like Courier's.
    pub async fn embedded_with(
        scenarios: &[Scenario],
        faults: &[String],
        setup: EmbeddedSetup,
    ) -> Result<Target, String> {
        let mut users = Vec::new();
        for (i, s) in scenarios.iter().enumerate() {
            for u in &s.users {
                let quota = s.quota.iter().find(|(q, _)| q == u).map(|(_, b)| *b);
                users.push(User {
                    name: embedded_user(i, u),
                    password: format!("pw-{i}-{u}"),
                    quota,
                });
            }
        }
        let config = Config {
            imap: "127.0.0.1:0".parse().ok(),
            imaps: "127.0.0.1:0".parse().ok(),
            smtp: "127.0.0.1:0".parse().ok(),
            users,
            faults: faults
                .iter()
                .map(|f| f.parse())
                .collect::<Result<Vec<_>, _>>()?,
            clock: Clock::compressed(setup.speedup),
            personal_namespace: setup.personal_namespace,
            ..Config::default()
        };
        let handle = Server::start(config).await.map_err(|e| e.to_string())?;
        Ok(Target::Embedded {
            handle,
            faults: faults.to_vec(),
            front: None,
        })
    }

    /// The embedded server's own plain IMAP address.
    pub fn embedded_imap(&self) -> Option<SocketAddr> {
        match self {
            Target::Embedded { handle, .. } => handle.imap,
            Target::Foreign { .. } => None,
        }
    }

    /// Sends plain and STARTTLS sessions to `addr` (a proxy in front of
    /// [`Target::embedded_imap`]); implicit-TLS sessions still go direct.
    pub fn route_imap_through(&mut self, addr: SocketAddr) {
        if let Target::Embedded { front, .. } = self {
            *front = Some(addr);
        }
    }

    pub fn shared_accounts(&self) -> bool {
        matches!(self, Target::Foreign { .. })
    }

    pub fn clock(&self) -> Clock {
        match self {
            Target::Embedded { handle, .. } => handle.clock.clone(),
            Target::Foreign { clock, .. } => clock.clone(),
        }
    }

    pub fn insecure(&self) -> bool {
        match self {
            Target::Embedded { .. } => true,
            Target::Foreign { insecure, .. } => *insecure,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Target::Embedded { faults, .. } if faults.is_empty() => {
                "embedded reference server".to_string()
            }
            Target::Embedded { faults, .. } => format!(
                "embedded reference server --fault {}",
                faults.join(" --fault ")
            ),
            Target::Foreign { url, .. } => url.to_string(),
        }
    }

    /// The server's name for baselines when `--server-name` is not given:
    /// "reference" for the embedded server, host:port otherwise.
    pub fn default_name(&self) -> String {
        match self {
            Target::Embedded { .. } => "reference".to_string(),
            Target::Foreign { url, .. } => format!("{}:{}", url.host, url.port),
        }
    }

    /// The account a scenario's logical user maps to.
    pub fn account(
        &self,
        scenario_index: usize,
        scenario: &Scenario,
        user: &str,
    ) -> Result<Account, String> {
        match self {
            Target::Embedded { .. } => Ok(Account {
                user: embedded_user(scenario_index, user),
                password: format!("pw-{scenario_index}-{user}"),
            }),
            Target::Foreign { accounts, .. } => {
                let i = scenario.users.iter().position(|u| u == user).unwrap_or(0);
                accounts.get(i).cloned().ok_or_else(|| {
                    format!(
                        "scenario {} needs {} accounts ({}); give --user/--password {} times",
                        scenario.id,
                        scenario.users.len(),
                        scenario.users.join(", "),
                        scenario.users.len()
                    )
                })
            }
        }
    }

    /// The URL for a session with the asked security.
    pub fn url(&self, security: &Security) -> Result<ServerUrl, String> {
        match self {
            Target::Embedded { handle, front, .. } => {
                let imap = front.or(handle.imap);
                let (addr, sec) = match security {
                    Security::Tls => (handle.imaps, "imaps"),
                    Security::StartTls => (imap, "starttls"),
                    Security::Default | Security::Plain => (imap, "imap"),
                };
                let addr = addr.ok_or("the embedded server has no such listener")?;
                let text = match sec {
                    "imaps" => format!("imaps://{addr}"),
                    "starttls" => format!("imap://{addr}?starttls"),
                    _ => format!("imap://{addr}"),
                };
                text.parse()
            }
            Target::Foreign { url, tls_url, .. } => {
                let mut u = url.clone();
                match security {
                    Security::Default => {}
                    Security::Plain => u.security = crate::session::Security::Plain,
                    Security::StartTls => u.security = crate::session::Security::StartTls,
                    Security::Tls => match tls_url {
                        Some(t) => return Ok(t.clone()),
                        None if u.security == crate::session::Security::Tls => {}
                        None => u.security = crate::session::Security::StartTls,
                    },
                }
                Ok(u)
            }
        }
    }

    /// The administrator account, on a foreign server that was given one.
    pub fn admin(&self) -> Option<&Account> {
        match self {
            Target::Foreign { admin, .. } => admin.as_ref(),
            Target::Embedded { .. } => None,
        }
    }

    pub fn smtp(&self) -> Option<SocketAddr> {
        match self {
            Target::Embedded { handle, .. } => handle.smtp,
            Target::Foreign { smtp, .. } => *smtp,
        }
    }

    /// Direct access to the embedded store (fast bulk delivery).
    pub fn store(&self) -> Option<Arc<crate::server::store::Store>> {
        match self {
            Target::Embedded { handle, .. } => Some(Arc::clone(&handle.store)),
            Target::Foreign { .. } => None,
        }
    }

    pub async fn stop(self) {
        if let Target::Embedded { handle, .. } = self {
            handle.shutdown().await;
        }
    }
}

fn embedded_user(i: usize, u: &str) -> String {
    format!("s{i}-{u}")
}
