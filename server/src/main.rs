//! The `gridflex` command: serve, migrate, demo, token, audit.

use anyhow::Context;
use clap::Parser;

use std::sync::Arc;

use gridflex::audit_digest::{verify_digests, DigestCheck};
use gridflex::calendar::Calendar;
use gridflex::clock::{Clock, OffsetClock, SystemClock};
use gridflex::config::{
    AuditCommand, Cli, Command, LogFormat, OpenAdrClientCommand, OpenAdrCommand, ProgramsDialect,
    ServeArgs, TokenCommand,
};
use gridflex::db::audit::ChainCheck;
use gridflex::db::{redact_url, Db, DbOptions};
use gridflex::grid::console::{EventService, GridSettings};
use gridflex::grid::headend::HeadEndSim;
use gridflex::integration::peer::{HttpPeer, Peers, PublishedHttpPeer};
use gridflex::integration::worker::{DeliveryWorker, RetryPolicy};
use gridflex::{auth, db, demo, startup};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    gridflex::init_tracing(cli.log_format == LogFormat::Json);
    // A restore replaces the database file, so it runs before anything opens it.
    if let Command::Restore { file } = &cli.command {
        let checked = db::backup::restore(&cli.db.database_url, file).await?;
        println!(
            "Restored {} ({} audit rows, chain intact). Start the server to use it.",
            file.display(),
            checked.audit_rows
        );
        return Ok(());
    }
    let mut options = DbOptions::new(&cli.db.database_url);
    options.max_connections = cli.db.db_max_connections;
    options.pg_schema = cli.db.database_schema.clone();
    let db = Db::connect(&options).await.with_context(|| {
        format!(
            "cannot open the database {}",
            redact_url(&cli.db.database_url)
        )
    })?;
    // Replicas started together take turns: the first migrates, the others find it done.
    db.exclusively(db::STARTUP_LOCK, startup::migrate(&db))
        .await
        .context("migrations failed")?;

    let calendar = cli.calendar;
    match cli.command {
        Command::Serve(args) => serve(db, calendar, args, cli.db.database_schema).await,
        Command::Migrate => {
            println!("Migrations applied ({}).", db.backend_name());
            Ok(())
        }
        Command::Demo { size, seed } => {
            let started = std::time::Instant::now();
            let summary = demo::load_demo(&db, calendar, size, seed).await?;
            demo::ensure_demo_users(&db).await?;
            println!(
                "Demo utility loaded in {:.1} s: {} customers, {} devices, {} enrollments; past events {} settled.",
                started.elapsed().as_secs_f64(),
                summary.customers,
                summary.devices,
                summary.enrollments,
                summary.past_events.join(", ")
            );
            Ok(())
        }
        Command::Token { command } => token(db, command).await,
        Command::Openadr {
            command:
                OpenAdrCommand::Client {
                    command: OpenAdrClientCommand::Create { name, scopes, ven },
                },
        } => {
            let client =
                gridflex::openadr::auth::create_client(&db, "cli", &name, &scopes, ven.as_deref())
                    .await?;
            println!("client_id: {}", client.client_id);
            println!("client_secret: {}", client.secret);
            eprintln!("OpenADR client `{name}` created. The secret is shown only this once; get a token with POST <base>auth/token (grant_type=client_credentials).");
            Ok(())
        }
        Command::Openadr {
            command:
                OpenAdrCommand::Client {
                    command: OpenAdrClientCommand::Revoke { id },
                },
        } => {
            gridflex::openadr::auth::revoke_client(&db, "cli", &id).await?;
            println!("OpenADR client {id} revoked; its tokens were deleted.");
            Ok(())
        }
        Command::Backup { file } => {
            let started = std::time::Instant::now();
            let bytes = db::backup::backup(&db, &file).await?;
            println!(
                "Backup written to {} ({:.1} MB in {:.1} s).",
                file.display(),
                bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Restore { .. } => unreachable!("a restore returned above"),
        Command::Audit {
            command: AuditCommand::Verify,
        } => match db::audit::verify(&db).await? {
            ChainCheck::Intact { rows } => {
                println!("Audit chain intact: {rows} rows verified.");
                match verify_digests(&db).await? {
                    DigestCheck::Intact { entries, rows } => {
                        println!(
                            "Bulk-change digests intact: {entries} entries, {rows} stored rows recomputed."
                        );
                        // The OpenADR events kept for VENs (migration 0029) against the
                        // reserved devices they are kept from.
                        let drift = db::openadr::published_drift(&db).await?;
                        if let Some(first) = drift.first() {
                            eprintln!(
                                "OpenADR events kept as published DIFFER from their reserved devices ({} differences); first: {first}.",
                                drift.len()
                            );
                            std::process::exit(1);
                        }
                        println!("OpenADR events kept as published match their reserved devices.");
                        Ok(())
                    }
                    DigestCheck::Differs {
                        audit_id,
                        scope,
                        reason,
                    } => {
                        eprintln!("Audit digest MISMATCH in entry {audit_id} ({scope}): {reason}.");
                        std::process::exit(1);
                    }
                }
            }
            ChainCheck::Broken { id, reason } => {
                eprintln!("Audit chain BROKEN at row {id}: {reason}.");
                std::process::exit(1);
            }
        },
    }
}

async fn token(db: Db, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            name,
            role,
            expires_in,
            scope,
        } => {
            // Wall clock on purpose: token expiry is access control, not the utility's time.
            let expires_at = expires_in.map(|d| chrono::Utc::now() + d);
            let token =
                auth::create_expiring_token(&db, "cli", &name, &role, expires_at, scope.as_deref())
                    .await?;
            println!("{token}");
            eprintln!("Token `{name}` ({role}) created. It is shown only this once; send it as `Authorization: Bearer <token>`.");
        }
        TokenCommand::List => {
            for t in db::token::list_tokens(&db).await? {
                let now = chrono::Utc::now(); // wall clock, as the expiry was set
                let state = if t.revoked {
                    "revoked"
                } else if t.expires_at.is_some_and(|at| at <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}{}\t{}\tcreated {}\texpires {}\tlast used {}",
                    t.name,
                    t.role,
                    t.scope
                        .as_deref()
                        .map(|s| format!(" ({s} side)"))
                        .unwrap_or_default(),
                    state,
                    t.created_at.format("%Y-%m-%d"),
                    t.expires_at
                        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into()),
                    t.last_used_at
                        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        TokenCommand::Rotate { name } => {
            let token = auth::rotate_token(&db, "cli", &name).await?;
            println!("{token}");
            eprintln!("Token `{name}` has a new value, shown only this once; the old value no longer works.");
        }
        TokenCommand::Revoke { name } => {
            match auth::revoke_token(&db, "cli", &name).await {
                Err(gridflex::error::DomainError::NotFound(_)) => {
                    anyhow::bail!("no active token named `{name}`")
                }
                other => other?,
            }
            println!("Token `{name}` revoked.");
        }
    }
    Ok(())
}

fn grid_settings(args: &ServeArgs) -> anyhow::Result<GridSettings> {
    let headend = HeadEndSim::from_percent(
        args.headend_success_pct,
        args.headend_nonresponsive_pct,
        args.headend_override_pct,
        args.headend_seed,
    )
    .map_err(anyhow::Error::msg)?;
    if !(args.ba_threshold_mw.is_finite() && args.ba_threshold_mw > 0.0) {
        anyhow::bail!("--ba-threshold-mw must be a positive number of MW");
    }
    Ok(GridSettings {
        headend,
        ba_threshold_kw: args.ba_threshold_mw * 1000.0,
    })
}

/// Starts and ends events at their times: a step every two seconds, sooner while busy.
async fn run_scheduler(
    events: std::sync::Arc<EventService>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let busy = match events.tick().await {
            Ok(r) => {
                if !r.is_idle() {
                    tracing::info!(?r, "scheduler step");
                }
                !r.is_idle()
            }
            Err(e) => {
                tracing::error!(error = %e, "scheduler step failed");
                false
            }
        };
        let pause = if busy { 100 } else { 2000 };
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(pause)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Runs the control-score calculation once a day at the local `hour` of the clock; every
/// server process has the schedule, the first to run it for the day wins. On a simulated clock
/// that jumps ahead the run happens at most a minute late.
async fn daily_scores(
    db: Db,
    clock: Arc<dyn Clock>,
    calendar: Calendar,
    hour: u32,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let now = clock.now();
        let next = calendar.next_local_hour(now, hour);
        // Sleep at most a minute at a time: a simulated clock may be moved on meanwhile.
        let wait = (next - now)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(60))
            .min(std::time::Duration::from_secs(60));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {},
            _ = stop.changed() => return,
        }
        let now = clock.now();
        if now < next {
            continue;
        }
        let today = calendar.local_date(now);
        match gridflex::programs::score::run_scores(&db, calendar, "schedule", today, now, true)
            .await
        {
            Ok(run) => tracing::info!(devices = run.devices, ran = run.ran, "scheduled score run"),
            Err(e) => tracing::error!(error = %e, "scheduled score run failed"),
        }
    }
}

/// Settles what is due every ten minutes: events whose meter data has arrived, and seasons
/// that have ended (see `programs::settlement::settle_due`).
async fn settle_periodically(
    db: Db,
    clock: Arc<dyn Clock>,
    calendar: Calendar,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        match gridflex::programs::settlement::settle_due(&db, calendar, clock.now()).await {
            Ok(due) if !(due.events.is_empty() && due.seasons.is_empty()) => {
                tracing::info!(events = ?due.events, seasons = ?due.seasons, "scheduled settlement")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "scheduled settlement failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Prints a line for the person who started the server; a closed stdout is not fatal.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// In-process peers, or HTTP ones for each side whose URL is configured.
fn peers_from(
    db: &Db,
    calendar: Calendar,
    handlers: std::sync::Arc<gridflex::integration::handlers::Handlers>,
    args: &ServeArgs,
) -> anyhow::Result<Peers> {
    let mut peers = Peers::in_process(db, calendar, handlers);
    let timeout = std::time::Duration::from_secs(args.peer_timeout_secs.max(1));
    if let Some(url) = &args.programs_url {
        let token = args
            .programs_token
            .as_deref()
            .context("GRIDFLEX_PROGRAMS_TOKEN is required with GRIDFLEX_PROGRAMS_URL")?;
        peers.programs = match args.programs_dialect {
            ProgramsDialect::Gridflex => std::sync::Arc::new(HttpPeer::new(url, token, timeout)?),
            ProgramsDialect::Published => {
                std::sync::Arc::new(PublishedHttpPeer::new(url, token, timeout)?)
            }
        };
        tracing::info!(url = %url, dialect = ?args.programs_dialect, "program side is remote");
    }
    if let Some(url) = &args.grid_url {
        let token = args
            .grid_token
            .as_deref()
            .context("GRIDFLEX_GRID_TOKEN is required with GRIDFLEX_GRID_URL")?;
        peers.grid = std::sync::Arc::new(HttpPeer::new(url, token, timeout)?);
        tracing::info!(url = %url, "grid side is remote");
    }
    for entry in &args.grid_instances {
        let (name, url) = entry
            .split_once('=')
            .map(|(n, u)| (n.trim(), u.trim()))
            .with_context(|| format!("GRIDFLEX_GRID_INSTANCES: `{entry}` is not NAME=URL"))?;
        let token = args
            .grid_instance_tokens
            .iter()
            .filter_map(|t| t.split_once('='))
            .find(|(n, _)| n.trim() == name)
            .map(|(_, t)| t.trim())
            .with_context(|| {
                format!("GRIDFLEX_GRID_INSTANCE_TOKENS has no token for grid instance `{name}`")
            })?;
        let peer = std::sync::Arc::new(HttpPeer::new(url, token, timeout)?);
        peers = peers.with_grid_instance(name, peer);
        tracing::info!(instance = name, url = %url, "grid instance is remote");
    }
    Ok(peers)
}

/// The demo (with `--demo`) or, on a database without users, the first admin, whose
/// generated password is returned to be shown once.
async fn first_start(
    db: &Db,
    calendar: Calendar,
    args: &ServeArgs,
    clock: &dyn Clock,
) -> anyhow::Result<Option<String>> {
    if args.demo {
        if demo::is_empty(db).await? {
            let started = std::time::Instant::now();
            let summary =
                demo::load_demo_at(db, calendar, args.demo_size, args.demo_seed, clock.now())
                    .await?;
            tracing::info!(
                customers = summary.customers,
                devices = summary.devices,
                enrollments = summary.enrollments,
                past_events = %summary.past_events.join(", "),
                seconds = started.elapsed().as_secs_f64(),
                "demo utility loaded"
            );
        }
        demo::ensure_demo_users(db).await?;
    } else if db::user::count_users(db).await? == 0 {
        let password = auth::generate_password();
        auth::create_user(db, "setup", "admin", "Administrator", "admin", &password).await?;
        return Ok(Some(password));
    }

    Ok(None)
}

async fn serve(
    db: Db,
    calendar: Calendar,
    args: ServeArgs,
    pg_schema: Option<String>,
) -> anyhow::Result<()> {
    // The process's one clock, handed to every service and background task below.
    let (clock, simulated_clock): (Arc<dyn Clock>, _) = if args.simulated_clock {
        let c = Arc::new(OffsetClock::default());
        (c.clone(), Some(c))
    } else {
        (Arc::new(SystemClock), None)
    };
    // Exactly one of several replicas started at once loads the demo or creates the first
    // admin; the others wait their turn and find it done.
    let first_admin_password = db
        .exclusively(
            db::STARTUP_LOCK,
            first_start(&db, calendar, &args, clock.as_ref()),
        )
        .await?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let settings = startup::WebSettings {
        listen: addr,
        secure_cookies: args.secure_cookies,
        session_hours: args.session_hours,
        pg_schema,
        clock: clock.clone(),
        simulated_clock,
        grid: grid_settings(&args)?,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs.max(1)),
        public_metrics: args.public_metrics,
        trusted_proxies: args.trusted_proxies.clone(),
        calendar,
        openadr_base: args.openadr_base.clone(),
        openadr_callback_hosts: args
            .openadr_callback_hosts
            .iter()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .collect(),
        // The in-process program side speaks GridFlex's own dialect whatever the setting.
        programs_dialect: if args.programs_url.is_some() {
            args.programs_dialect
        } else {
            ProgramsDialect::Gridflex
        },
    };
    let (router, state, store) = startup::build_app(db.clone(), &settings).await?;
    let cleanup = tokio::spawn(
        tower_sessions::ExpiredDeletion::continuously_delete_expired(
            store,
            tokio::time::Duration::from_secs(3600),
        ),
    );

    let peers = peers_from(&db, calendar, state.handlers.clone(), &args)?;
    let webhooks = gridflex::openadr::notify::WebhookPeer::new(
        db.clone(),
        std::time::Duration::from_secs(args.peer_timeout_secs.max(1)),
        settings.openadr_callback_hosts.clone(),
    )?;
    let worker = std::sync::Arc::new(
        DeliveryWorker::new(
            db.clone(),
            peers,
            clock.clone(),
            RetryPolicy::default(),
            rand::random(),
        )
        .with_peer(
            gridflex::openadr::notify::RECIPIENT,
            std::sync::Arc::new(webhooks),
        ),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let delivery = tokio::spawn(worker.run(std::time::Duration::from_millis(500), stop_rx.clone()));
    let scheduler = tokio::spawn(run_scheduler(state.events.clone(), stop_rx.clone()));
    let settling = tokio::spawn(settle_periodically(
        db.clone(),
        clock.clone(),
        calendar,
        stop_rx.clone(),
    ));
    let scores = tokio::spawn(daily_scores(
        db.clone(),
        clock,
        calendar,
        args.score_hour,
        stop_rx,
    ));

    say(&format!("GridFlex is listening on http://{addr}"));
    if args.demo {
        say(&format!(
            "Demo logins (password `{}`): {}",
            demo::DEMO_PASSWORD,
            demo::DEMO_USERS
                .iter()
                .map(|(u, _, r)| format!("{u} ({r})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(p) = first_admin_password {
        say(&format!("First start: created user `admin` with password `{p}` (shown only this once; change it under Users)."));
    }
    tracing::info!(%addr, backend = db.backend_name(), time_zone = %calendar, "serving");
    startup::serve(listener, router).await?;
    let _ = stop_tx.send(true);
    let _ = delivery.await;
    let _ = scores.await;
    let _ = settling.await;
    let _ = scheduler.await;
    cleanup.abort();
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}
