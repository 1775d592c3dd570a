//! Settings from flags, the environment (`GRIDFLEX_*`) and `.env`. Secrets are never logged.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::calendar::{Calendar, DEFAULT_TIME_ZONE};
use crate::demo::DemoSize;

#[derive(Debug, Parser)]
#[command(
    name = "gridflex",
    version,
    about = "GridFlex: demand-response programs, events and the integration between them"
)]
pub struct Cli {
    #[command(flatten)]
    pub db: DbArgs,

    /// The utility's time zone, an IANA name: local days, hours, cycles and seasons follow it.
    #[arg(long = "time-zone", env = "GRIDFLEX_TIME_ZONE", default_value = DEFAULT_TIME_ZONE, global = true, value_parser = time_zone)]
    pub calendar: Calendar,

    /// Log format.
    #[arg(long, env = "GRIDFLEX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

/// The dialect a remote program side speaks.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProgramsDialect {
    Gridflex,
    Published,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// sqlite://FILE (created on first start) or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "GRIDFLEX_DATABASE_URL",
        default_value = "sqlite://gridflex.db",
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Largest number of pooled database connections.
    #[arg(
        long,
        env = "GRIDFLEX_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,

    /// PostgreSQL only: keep every table in this schema (it must exist), so several
    /// GridFlex installations can share one database.
    #[arg(long, env = "GRIDFLEX_DATABASE_SCHEMA", global = true, value_parser = schema_name)]
    pub database_schema: Option<String>,
}

/// A time zone is a known IANA name; anything else stops the command before it starts.
fn time_zone(s: &str) -> Result<Calendar, String> {
    Calendar::parse(s).map_err(|e| e.to_string())
}

/// A schema name is an SQL identifier: letters, digits and underscores, not starting with a digit.
fn schema_name(s: &str) -> Result<String, String> {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && s.len() <= 63 && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(s.to_string())
    } else {
        Err("a schema name has letters, digits and underscores only (at most 63), and does not start with a digit".into())
    }
}

// Parsed once at start-up: the size of `Serve`'s settings costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console, the REST API and the background work.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Load the demo utility into an empty database and exit.
    Demo {
        /// small (≈5,000 devices), large (1,000,000) or a device count.
        #[arg(long, default_value = "small")]
        size: DemoSize,
        #[arg(long, default_value_t = crate::demo::DEFAULT_SEED)]
        seed: u64,
    },
    /// API tokens for machine clients.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Write a consistent copy of the running SQLite database to FILE (it must not exist).
    Backup {
        /// Where the copy goes.
        file: std::path::PathBuf,
    },
    /// Replace the SQLite database with a backup, after checking it (stop the server first;
    /// the old file is kept as FILE.before-restore).
    Restore {
        /// The backup to restore.
        file: std::path::PathBuf,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The OpenADR 3.1 VTN.
    Openadr {
        #[command(subcommand)]
        command: OpenAdrCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpenAdrCommand {
    /// OpenADR clients (VENs and business-logic clients).
    Client {
        #[command(subcommand)]
        command: OpenAdrClientCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpenAdrClientCommand {
    /// Create a client; its id and secret are printed once (only a hash of the secret is kept).
    Create {
        #[arg(long)]
        name: String,
        /// read_all, read_targets, read_ven_objects, write_programs, write_events,
        /// write_reports, write_subscriptions, write_vens (comma-separated or repeated).
        #[arg(long = "scope", value_delimiter = ',', required = true)]
        scopes: Vec<String>,
        /// The aggregator (its external reference) whose VEN this client is.
        #[arg(long)]
        ven: Option<String>,
    },
    /// Revoke a client: its secret gets no more tokens and its tokens are refused at once.
    Revoke {
        /// The client's id (`oadr-…`, as printed by `create`).
        #[arg(long)]
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and only its hash is stored.
    Create {
        #[arg(long)]
        name: String,
        /// program_manager, operator, approver, auditor, admin or integration.
        #[arg(long)]
        role: String,
        /// Refuse the token after this long: days, hours or minutes, e.g. `90d`, `12h`, `30m`.
        #[arg(long, value_parser = lifetime)]
        expires_in: Option<chrono::Duration>,
        /// Integration tokens: the side the client speaks for (`programs` or `grid`); it may
        /// then post only the flows that side sends.
        #[arg(long)]
        scope: Option<String>,
    },
    /// List tokens (never their values), with expiry and last use.
    List,
    /// Give a token a new value, printed once; the old value stops working at once.
    Rotate {
        #[arg(long)]
        name: String,
    },
    /// Revoke a token by name.
    Revoke {
        #[arg(long)]
        name: String,
    },
}

/// A token lifetime: a whole number followed by `d`, `h` or `m` (`90d`), at most ten years.
fn lifetime(s: &str) -> Result<chrono::Duration, String> {
    let bad = || format!("`{s}` is not a lifetime such as 90d, 12h or 30m");
    let s = s.trim();
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| bad())?;
    let lifetime = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => None,
    }
    .ok_or_else(bad)?;
    if n <= 0 || lifetime > chrono::Duration::days(3653) {
        return Err(format!(
            "`{s}`: a lifetime is more than zero and at most ten years"
        ));
    }
    Ok(lifetime)
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain, then recompute the digest of every bulk change (settlement runs,
    /// plans) from the stored rows; names the first row that differs.
    Verify,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "GRIDFLEX_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Load the demo utility if the database is empty, and create the demo users.
    #[arg(long, env = "GRIDFLEX_DEMO")]
    pub demo: bool,

    /// small (≈5,000 devices), large (1,000,000) or a device count.
    #[arg(long, env = "GRIDFLEX_DEMO_SIZE", default_value = "small")]
    pub demo_size: DemoSize,

    /// Seed of the demo generator (the same seed gives the same utility).
    #[arg(long, env = "GRIDFLEX_DEMO_SEED", default_value_t = crate::demo::DEFAULT_SEED)]
    pub demo_seed: u64,

    /// Mark session cookies Secure (set when users reach GridFlex over HTTPS).
    #[arg(long, env = "GRIDFLEX_SECURE_COOKIES")]
    pub secure_cookies: bool,

    /// Base URL of a remote program side (messages to it go over HTTP); unset: in-process.
    #[arg(long, env = "GRIDFLEX_PROGRAMS_URL")]
    pub programs_url: Option<String>,

    /// Bearer token for the remote program side.
    #[arg(long, env = "GRIDFLEX_PROGRAMS_TOKEN", hide_env_values = true)]
    pub programs_token: Option<String>,

    /// What the remote program side speaks: `gridflex` (GridFlex's own envelope) or
    /// `published` (the published program-side REST paths for flows 1 and 4–6).
    #[arg(long, env = "GRIDFLEX_PROGRAMS_DIALECT", value_enum, default_value_t = ProgramsDialect::Gridflex)]
    pub programs_dialect: ProgramsDialect,

    /// Base URL of a remote grid side (messages to it go over HTTP); unset: in-process.
    #[arg(long, env = "GRIDFLEX_GRID_URL")]
    pub grid_url: Option<String>,

    /// Bearer token for the remote grid side.
    #[arg(long, env = "GRIDFLEX_GRID_TOKEN", hide_env_values = true)]
    pub grid_token: Option<String>,

    /// Grid instances that serve divisions (division routing): `NAME=URL`, repeat the flag or
    /// separate with commas. The value map `division_routing` (`OUTL-BRT-DRMSID-TO-DACSID`)
    /// names each division's instance; an enrollment of that division syncs to it.
    #[arg(
        long = "grid-instance",
        env = "GRIDFLEX_GRID_INSTANCES",
        value_delimiter = ','
    )]
    pub grid_instances: Vec<String>,

    /// Bearer tokens of the grid instances: `NAME=TOKEN`, repeat the flag or separate with commas.
    #[arg(
        long = "grid-instance-token",
        env = "GRIDFLEX_GRID_INSTANCE_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub grid_instance_tokens: Vec<String>,

    /// Seconds before a call to a remote side is given up (and retried later).
    #[arg(long, env = "GRIDFLEX_PEER_TIMEOUT_SECS", default_value_t = 10)]
    pub peer_timeout_secs: u64,

    /// Reverse proxies whose `X-Forwarded-For` is believed (CIDR, e.g. 10.0.0.0/8; repeat the
    /// flag or separate with commas). Sign-in throttling then counts the forwarded client
    /// address; without it the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "GRIDFLEX_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Base path of the OpenADR 3.1 VTN.
    #[arg(long, env = "GRIDFLEX_OPENADR_BASE", default_value = crate::openadr::DEFAULT_BASE, value_parser = crate::openadr::check_base)]
    pub openadr_base: String,

    /// Hosts (besides loopback) that OpenADR subscriptions may call back, e.g.
    /// hooks.aggregator.example (repeat the flag or separate with commas).
    #[arg(
        long = "openadr-callback-hosts",
        env = "GRIDFLEX_OPENADR_CALLBACK_HOSTS",
        value_delimiter = ','
    )]
    pub openadr_callback_hosts: Vec<String>,

    /// Serve `/metrics` to anyone (without it, a scraper needs an API token of any role).
    #[arg(long, env = "GRIDFLEX_PUBLIC_METRICS")]
    pub public_metrics: bool,

    /// Seconds a request may take before the server gives up on it and answers 503.
    #[arg(long, env = "GRIDFLEX_REQUEST_TIMEOUT_SECS", default_value_t = 120)]
    pub request_timeout_secs: u64,

    /// Hour of the day (local, in the utility's time zone) of the daily control-score run.
    #[arg(long, env = "GRIDFLEX_SCORE_HOUR", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..24))]
    pub score_hour: u32,

    /// Run on a simulated clock that admins can move on (demos, browser tests).
    #[arg(long, env = "GRIDFLEX_SIMULATED_CLOCK")]
    pub simulated_clock: bool,

    /// Balancing-authority threshold in MW: when open events together shed more at any
    /// interval, submitting needs a second approval.
    #[arg(long, env = "GRIDFLEX_BA_THRESHOLD_MW", default_value_t = 50.0)]
    pub ba_threshold_mw: f64,

    /// Head-end simulator: percent of dispatched devices that take part.
    #[arg(long, env = "GRIDFLEX_HEADEND_SUCCESS_PCT", default_value_t = 85.0)]
    pub headend_success_pct: f64,

    /// Head-end simulator: percent that do not respond.
    #[arg(
        long,
        env = "GRIDFLEX_HEADEND_NONRESPONSIVE_PCT",
        default_value_t = 7.0
    )]
    pub headend_nonresponsive_pct: f64,

    /// Head-end simulator: percent whose customer overrides mid-stage (the rest answer with an error).
    #[arg(long, env = "GRIDFLEX_HEADEND_OVERRIDE_PCT", default_value_t = 5.0)]
    pub headend_override_pct: f64,

    /// Head-end simulator seed (the same seed gives the same answers).
    #[arg(long, env = "GRIDFLEX_HEADEND_SEED", default_value_t = 7)]
    pub headend_seed: i64,

    /// Hours of inactivity after which a session ends.
    #[arg(long, env = "GRIDFLEX_SESSION_HOURS", default_value_t = 8)]
    pub session_hours: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_read_days_hours_and_minutes() {
        assert_eq!(lifetime("90d"), Ok(chrono::Duration::days(90)));
        assert_eq!(lifetime("12h"), Ok(chrono::Duration::hours(12)));
        assert_eq!(lifetime("30m"), Ok(chrono::Duration::minutes(30)));
        for bad in ["", "d", "90", "90w", "-1d", "0d", "99999d", "1.5d"] {
            assert!(lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_time_zone_defaults_to_chicago_and_an_unknown_one_is_refused_by_name() {
        let cli = Cli::try_parse_from(["gridflex", "migrate"]).expect("defaults parse");
        assert_eq!(cli.calendar, Calendar::default());
        let cli = Cli::try_parse_from(["gridflex", "serve", "--time-zone", "Europe/Berlin"])
            .expect("a known zone parses");
        assert_eq!(cli.calendar.name(), "Europe/Berlin");
        let err = Cli::try_parse_from(["gridflex", "serve", "--time-zone", "Mars/Olympus_Mons"])
            .expect_err("an unknown zone is refused");
        let msg = err.to_string();
        assert!(msg.contains("Mars/Olympus_Mons"), "{msg}");
        assert!(msg.contains("IANA time zone"), "{msg}");
    }
}
