use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::accounts::{add_expert, NewExpert};
use switchboard::config::Config;
use switchboard::store::model::Role;
use switchboard::store::{Store, StoreError};

/// mimalloc: per-thread free lists without glibc's arena locks (the message path allocates
/// on both workers and the flusher), and argon2's 19 MiB blocks go back to the system when
/// freed instead of staying pinned in an arena. Built without transparent huge pages, which
/// would back every touched arena page with 2 MiB and cost idle connections dearly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Self-hosted live chat for customer care")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Configuration file (default: config.toml in the working directory, if present).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Manage expert accounts directly in the data directory (server stopped; while it runs,
    /// use the admin page or `POST /api/v1/experts`).
    Expert {
        #[command(subcommand)]
        action: ExpertCommand,
    },
    /// Write every record as JSON lines, to move to another store version (server stopped).
    Export {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Default: standard output.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Read an export into an empty data directory (server stopped).
    Import {
        #[arg(long)]
        config: Option<PathBuf>,
        /// Default: standard input.
        #[arg(long)]
        input: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExpertCommand {
    /// Create an expert account.
    Add {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long)]
        username: String,
        /// Read from the first line of standard input when omitted.
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        name: String,
        /// Comma-separated category ids.
        #[arg(long, value_delimiter = ',')]
        categories: Vec<String>,
        /// Comma-separated certification names.
        #[arg(long, value_delimiter = ',')]
        certifications: Vec<String>,
        #[arg(long)]
        max_concurrent: Option<u32>,
        /// Give the account the role `admin`: its login can do everything the admin token can.
        #[arg(long)]
        admin: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config } => serve(config),
        Command::Expert { action } => expert(action),
        Command::Export { config, output } => export(config, output),
        Command::Import { config, input } => import(config, input),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchboard: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<PathBuf>) -> anyhow::Result<Config> {
    Ok(Config::load(path.as_deref())?)
}

fn serve(config: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.server.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let listener = std::net::TcpListener::bind(config.server.bind)?;
    actix_web::rt::System::new().block_on(switchboard::run(config, listener, shutdown_signal()))?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn expert(action: ExpertCommand) -> anyhow::Result<()> {
    let ExpertCommand::Add {
        config,
        username,
        password,
        name,
        categories,
        certifications,
        max_concurrent,
        admin,
    } = action;
    let config = load(config)?;
    let password = match password {
        Some(p) => p,
        None => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let store = match Store::configured(&config) {
        Ok(store) => store,
        Err(StoreError::Locked(dir)) => anyhow::bail!("{}", while_running(&dir, &config)),
        Err(e) => return Err(e.into()),
    };
    let known: Vec<String> = config.categories.iter().map(|c| c.id.clone()).collect();
    let roles = if admin { vec![Role::Admin] } else { Vec::new() };
    let new = NewExpert { username, password, name, categories, certifications, max_concurrent, roles };
    let expert = add_expert(&store, &known, new)?;
    // The store syncs as it drops: it must say so if that fails rather than report success.
    tokio::runtime::Builder::new_current_thread().build()?.block_on(store.sync())?;
    let role = if admin { " as an admin" } else { "" };
    println!("created expert {} ({}){role}", expert.id, expert.username);
    Ok(())
}

/// What to do instead when a running server holds the data directory: the server adds
/// experts itself, through the admin page or the API.
fn while_running(dir: &str, config: &Config) -> String {
    let bind = config.server.bind;
    let base = match (bind.ip().is_unspecified(), bind.port()) {
        (_, 0) => "http://SERVER".to_owned(),
        (true, port) => format!("http://localhost:{port}"),
        (false, _) => format!("http://{bind}"),
    };
    format!(
        "the data directory {dir} is in use by a running server.\n\
         To add an expert while it runs, use the admin page ({base}/admin, signed in as an admin \
         expert or with the admin token), or the API:\n  \
         curl -X POST {base}/api/v1/experts -H 'Authorization: Bearer ADMIN_TOKEN' \
         -H 'Content-Type: application/json' \
         -d '{{\"username\":\"ada\",\"password\":\"...\",\"name\":\"Ada\",\"roles\":[]}}'\n\
         where ADMIN_TOKEN is server.admin_token or an admin expert's login token \
         (POST {base}/api/v1/login). With no admin yet, open {base}/console and create the \
         first admin with the setup code the server printed at start.\n\
         Or stop the server and run this command again."
    )
}

fn export(config: Option<PathBuf>, output: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load(config)?;
    let dir = &config.server.data_dir;
    // Opening creates a missing directory: a mistyped path would export nothing, quietly.
    if !config.cluster.enabled() && !dir.is_dir() {
        anyhow::bail!("there is no data directory at {}", dir.display());
    }
    let store = Store::configured(&config)?;
    let counts = match output {
        Some(path) => {
            let file = std::fs::File::create(&path)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            let counts = switchboard::export::export(&store, &mut out)?;
            // On disk before anyone deletes the old data dir on the strength of it.
            out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            counts
        }
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let counts = switchboard::export::export(&store, &mut out)?;
            out.flush()?;
            counts
        }
    };
    eprintln!("exported {counts}");
    Ok(())
}

fn import(config: Option<PathBuf>, input: Option<PathBuf>) -> anyhow::Result<()> {
    let store = Store::configured(&load(config)?)?;
    let counts = match input {
        Some(path) => {
            let file =
                std::fs::File::open(&path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
            switchboard::export::import(&store, &mut std::io::BufReader::new(file))?
        }
        None => switchboard::export::import(&store, &mut std::io::stdin().lock())?,
    };
    // Dropping the store would flush too, but silently: an import must say if it failed.
    tokio::runtime::Builder::new_current_thread().build()?.block_on(store.sync())?;
    eprintln!("imported {counts}");
    Ok(())
}
