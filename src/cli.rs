//! The command line: `serve`, `migrate` and `account create`. Every flag of `serve` has an
//! environment variable; values are parsed here into a [`Config`] and nothing else reads
//! the environment. A bad flag or value is reported on one line naming it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use clap::{builder::BoolishValueParser, Args, Parser, Subcommand};

use crate::config::{parse_duration, parse_duration_list, Config};
use crate::db::{self, Db};
use crate::engine::{shutdown_signal, Engine};

#[derive(Debug, Parser)]
#[command(name = "mailhooks", version, about = "Webhook delivery engine for email events")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the engine and its HTTP API.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage accounts.
    Account {
        #[command(subcommand)]
        command: AccountCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account and print its API key.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://mailhooks.db")]
    pub database_url: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, env = "MAILHOOKS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `smtp://host:port`, `smtp://host:port?tls=starttls` or `smtps://user:pass@host:465`.
    #[arg(long, env = "MAILHOOKS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Where emails go when no SMTP URL is set.
    #[arg(long, env = "MAILHOOKS_MAIL_DIR", default_value = "./mail-outbox")]
    pub mail_dir: PathBuf,
    /// Sender of notification emails.
    #[arg(long, env = "MAILHOOKS_MAIL_FROM", default_value = "mailhooks@localhost")]
    pub mail_from: String,
    /// Wait before each retry; the number of entries is the number of retries.
    #[arg(long, env = "MAILHOOKS_RETRY_SCHEDULE", default_value = "30s,2m,5m,10m,30m,1h,2h", value_parser = parse_schedule)]
    pub retry_schedule: RetrySchedule,
    /// How long a failing webhook may stay unfixed after its failure email.
    #[arg(long, env = "MAILHOOKS_DISABLE_AFTER", default_value = "7h", value_parser = parse_duration)]
    pub disable_after: Duration,
    /// Most events in one batch.
    #[arg(long, env = "MAILHOOKS_BATCH_MAX_EVENTS", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_max_events: u32,
    /// Longest time the first event of a batch waits for more.
    #[arg(long, env = "MAILHOOKS_BATCH_LINGER", default_value = "1s", value_parser = parse_duration)]
    pub batch_linger: Duration,
    /// Whole-request limit for one delivery attempt.
    #[arg(long, env = "MAILHOOKS_DELIVERY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Duration,
    /// Allow targets on loopback, private or link-local addresses.
    #[arg(long, env = "MAILHOOKS_ALLOW_PRIVATE_TARGETS", default_value = "false", num_args = 0..=1,
          default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub allow_private_targets: bool,
    /// Passphrase sealing stored basic-auth passwords (default: a key file beside the database).
    #[arg(long, env = "MAILHOOKS_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,
    /// At start, make sure an account `default` with this API key exists.
    #[arg(long, env = "MAILHOOKS_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// Notification email of that account.
    #[arg(long, env = "MAILHOOKS_BOOTSTRAP_EMAIL", default_value = "admin@localhost")]
    pub bootstrap_email: String,
}

/// A comma-separated list of waits, kept as one value so clap does not split it.
#[derive(Debug, Clone)]
pub struct RetrySchedule(pub Vec<Duration>);

fn parse_schedule(text: &str) -> Result<RetrySchedule, String> {
    parse_duration_list(text).map(RetrySchedule)
}

impl ServeArgs {
    /// The engine settings these flags describe.
    pub fn to_config(&self) -> Config {
        Config {
            database_url: self.database.database_url.clone(),
            smtp_url: self.smtp_url.clone().filter(|s| !s.is_empty()),
            mail_dir: self.mail_dir.clone(),
            mail_from: self.mail_from.clone(),
            retry_schedule: self.retry_schedule.0.clone(),
            disable_after: self.disable_after,
            batch_max_events: self.batch_max_events as usize,
            batch_linger: self.batch_linger,
            delivery_timeout: self.delivery_timeout,
            allow_private_targets: self.allow_private_targets,
            bootstrap_api_key: self.bootstrap_api_key.clone(),
            secret_key: self.secret_key.clone(),
            bootstrap_email: self.bootstrap_email.clone(),
            ..Config::default()
        }
    }
}

/// Parses the command line; on a bad flag or value prints one line and exits 2.
pub fn parse() -> Cli {
    match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let rendered = e.to_string();
            let line = rendered.lines().next().unwrap_or("error: invalid arguments");
            eprintln!("{line}");
            std::process::exit(2);
        }
    }
}

/// Runs a parsed command to completion. Returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Migrate(args) => db::migrate(&args.database_url).map_err(|e| e.to_string()),
        Command::Account { command: AccountCommand::Create { name, email, database } } => {
            create_account(&database.database_url, &name, &email)
        }
    };
    match outcome {
        Ok(()) => 0,
        Err(message) => {
            eprintln!("error: {message}");
            1
        }
    }
}

fn create_account(database_url: &str, name: &str, email: &str) -> Result<(), String> {
    if email.parse::<lettre::message::Mailbox>().is_err() {
        return Err(format!("invalid --email: {email:?} is not an email address"));
    }
    let db = Db::open(database_url, db::DEFAULT_BUSY_TIMEOUT).map_err(|e| e.to_string())?;
    let key = db::accounts::generate_api_key();
    let (n, e, k) = (name.to_owned(), email.to_owned(), key.clone());
    db.write_blocking(move |conn| db::accounts::create(conn, &n, &e, &k))
        .map_err(|e| format!("cannot create account {name:?}: {e}"))?;
    println!("{key}");
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let config = args.to_config();
    config.validate().map_err(|e| e.to_string())?;
    let listener = TcpListener::bind(&args.listen).map_err(|e| format!("invalid --listen {:?}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    actix_rt::System::new().block_on(async move {
        let engine = Engine::start(config).await.map_err(|e| e.to_string())?;
        if let Some(key) = engine.generated_api_key() {
            println!("Created account 'default'. Its API key (shown only this once): {key}");
        }
        log::info!("mailhooks listening on http://{address}");
        eprintln!("mailhooks listening on http://{address}");
        engine.run(listener, shutdown_signal()).await.map_err(|e| e.to_string())
    })
}
