//! The engine as a whole: open the database, start the actors, serve the API. A host
//! actix service embeds it with [`Engine::start`] inside its own System and mounts the
//! routes with `App::new().configure(|cfg| engine.configure(cfg))`; the `mailhooks`
//! binary does the same through [`Engine::run`].

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use actix_web::{web, App, HttpServer};

use crate::actors::notifier::{Notifier, UseRegistry};
use crate::actors::registry::{CrashWebhook, Dispatch, DrainAll, Registry, WebhookChanged, WebhookRemoved};
use crate::actors::routes::{RouteTable, SharedRoutes};
use crate::actors::{ActorDeps, DeliverySettings};
use crate::config::{Config, ConfigError};
use crate::db::{self, Db, DbError};
use crate::error::Error;
use crate::mail::Mailer;
use crate::model::{now_millis, AccountId, Event, Webhook, WebhookId};
use crate::secrets::SecretBox;
use lettre::message::Mailbox;

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] DbError),
}

struct Shared {
    config: Config,
    db: Db,
    settings: Arc<DeliverySettings>,
    routes: SharedRoutes,
    registry: Addr<Registry>,
    arbiters: Vec<Arbiter>,
    /// API key hashes already seen, and their accounts: keys are never revoked, so a hit
    /// needs no database read.
    known_keys: RwLock<HashMap<String, AccountId>>,
    generated_api_key: Option<String>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
    }
}

/// A running engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Opens the database (applying migrations), makes sure an account exists, and starts
    /// the registry and one webhook actor per enabled webhook. Must be called inside an
    /// actix System (e.g. under `#[actix_web::main]`).
    pub async fn start(config: Config) -> Result<Engine, StartError> {
        config.validate()?;
        // Several TLS back ends may be compiled in; the delivery client uses ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = config.database_url.clone();
        let busy_timeout = config.database_busy_timeout;
        let db = tokio::task::spawn_blocking(move || Db::open(&url, busy_timeout))
            .await
            .map_err(|e| DbError::Connection(format!("database start-up failed: {e}")))??;
        let generated_api_key = ensure_account(&db, &config).await?;
        let enabled = db.read(db::webhooks::list_enabled_for_start).await?;
        let with_backlog =
            db.read(db::batches::webhooks_with_backlog).await?.into_iter().map(WebhookId::from_string).collect();
        actix_rt::spawn(sweep_orphans(db.clone()));

        let secrets = match &config.secret_key {
            Some(passphrase) => SecretBox::from_passphrase(passphrase),
            None => {
                let path = db::key_file_path(&config.database_url)?;
                SecretBox::load_or_create(&path).map_err(|e| {
                    DbError::Connection(format!("cannot read or create the secret key file {}: {e}", path.display()))
                })?
            }
        };
        {
            let secrets = secrets.clone();
            let plain = db.read(db::webhooks::plain_passwords).await?;
            let sealed = if plain.is_empty() {
                0
            } else {
                db.write(move |conn| db::webhooks::seal_passwords(conn, &secrets, &plain)).await?
            };
            if sealed > 0 {
                log::info!("sealed {sealed} stored basic-auth passwords");
            }
        }
        let settings = DeliverySettings::new(&config, secrets);
        let mailer = Mailer::new(config.smtp_url.as_deref(), &config.mail_dir)?;
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|_| ConfigError { setting: "mail-from", message: "is not an email address".into() })?;
        // The notifier and the registry get an arbiter of their own, stopped with the rest
        // when the engine is dropped: an engine that is gone must not go on sending emails
        // or disabling webhooks beside its successor on the same database.
        let control = Arbiter::new();
        let notifier = Notifier::new(db.clone(), mailer, from, config.disable_after, config.mail_retry_base);
        let notifier = Notifier::start_in_arbiter(&control.handle(), move |_| notifier);
        let mut arbiters: Vec<Arbiter> = (0..config.effective_worker_threads()).map(|_| Arbiter::new()).collect();
        let routes: SharedRoutes = Arc::new(RwLock::new(RouteTable::default()));
        let deps = ActorDeps { db: db.clone(), settings: settings.clone(), notifier: notifier.clone().recipient() };
        let registry = Registry::new(
            deps,
            config.supervision_interval,
            arbiters.iter().map(Arbiter::handle).collect(),
            routes.clone(),
            enabled,
            with_backlog,
        );
        let registry = Registry::start_in_arbiter(&control.handle(), move |_| registry);
        arbiters.push(control);
        notifier.do_send(UseRegistry(registry.clone()));
        log::info!("mailhooks engine started");
        Ok(Engine {
            shared: Arc::new(Shared {
                config,
                db,
                settings,
                routes,
                registry,
                arbiters,
                known_keys: RwLock::new(HashMap::new()),
                generated_api_key,
            }),
        })
    }

    /// The key of the `default` account if this start created it with a random key (to
    /// be shown once); `None` otherwise.
    pub fn generated_api_key(&self) -> Option<&str> {
        self.shared.generated_api_key.as_deref()
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub(crate) fn db(&self) -> &Db {
        &self.shared.db
    }

    pub(crate) fn settings(&self) -> &DeliverySettings {
        &self.shared.settings
    }

    /// Mounts the HTTP API (`/healthz` and `/v1/…`) on a host's actix-web app.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        crate::http::configure(self.clone(), cfg);
    }

    /// An HTTP server for the API on `listener`, not yet started: spawn or await it.
    pub fn server(&self, listener: TcpListener) -> std::io::Result<actix_web::dev::Server> {
        let engine = self.clone();
        let server = HttpServer::new(move || {
            let engine = engine.clone();
            App::new().configure(move |cfg| engine.configure(cfg))
        })
        .listen(listener)?
        .disable_signals()
        .shutdown_timeout(30)
        .run();
        Ok(server)
    }

    /// Serves the API on `listener` until `shutdown` resolves, then stops taking requests
    /// and lets the ones in progress finish.
    pub async fn run(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let server = self.server(listener)?;
        let handle = server.handle();
        let serving = actix_rt::spawn(server);
        shutdown.await;
        log::info!("shutting down: no new requests");
        handle.stop(true).await;
        let _ = serving.await;
        self.drain(SHUTDOWN_GRACE).await;
        Ok(())
    }

    /// Lets in-flight deliveries finish (waiting at most `grace`) and starts no new ones.
    /// Everything not yet delivered stays stored and is delivered after the next start.
    pub async fn drain(&self, grace: Duration) {
        if self.shared.registry.send(DrainAll { grace }).await.is_err() {
            log::warn!("the registry stopped before draining");
        }
    }

    /// Resolves once every webhook arbiter has run what was queued on it before this call
    /// (such as starting the webhook actors). For benchmarks and tests that measure a start.
    pub async fn settle(&self) {
        let waits = self.shared.arbiters.iter().map(|arbiter| {
            let (done, wait) = tokio::sync::oneshot::channel::<()>();
            arbiter.spawn(async move {
                let _ = done.send(());
            });
            wait
        });
        futures_util::future::join_all(waits).await;
    }

    /// Creates an account and returns its new API key.
    pub async fn create_account(&self, name: &str, email: &str) -> Result<String, Error> {
        let key = db::accounts::generate_api_key();
        let (name, email, stored_key) = (name.to_owned(), email.to_owned(), key.clone());
        self.shared.db.write(move |conn| db::accounts::create(conn, &name, &email, &stored_key)).await?;
        Ok(key)
    }

    /// The account an API key belongs to.
    pub async fn authenticate(&self, api_key: &str) -> Result<AccountId, Error> {
        let hash = db::accounts::hash_api_key(api_key);
        if let Some(account) = self.read_known_keys().get(&hash) {
            return Ok(account.clone());
        }
        let key = api_key.to_owned();
        let account = self
            .shared
            .db
            .read(move |conn| db::accounts::find_by_key(conn, &key))
            .await?
            .ok_or(Error::Unauthorized)?
            .account_id();
        let mut known = self.shared.known_keys.write().unwrap_or_else(|p| p.into_inner());
        known.insert(hash, account.clone());
        Ok(account)
    }

    fn read_known_keys(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, AccountId>> {
        self.shared.known_keys.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts an account's validated events: stores them with a delivery row for every
    /// enabled webhook that wants them, and once that is committed hands them to the
    /// webhooks' actors. Returns how many events were accepted.
    pub async fn ingest(&self, account: &AccountId, events: Vec<Event>) -> Result<usize, Error> {
        self.store_and_dispatch(account, events, None).await.map(|ingested| ingested.accepted)
    }

    /// [`Engine::ingest`] under an idempotency key: the first request with `key` (within
    /// 24 hours, for this account) is stored; a repeat with the same `fingerprint` (a hash
    /// of the request) gets the first answer and stores nothing; a different request
    /// reusing the key is refused.
    pub async fn ingest_idempotent(
        &self,
        account: &AccountId,
        events: Vec<Event>,
        key: &str,
        fingerprint: &str,
    ) -> Result<Ingested, Error> {
        let key = IdempotencyKey { key: key.to_owned(), fingerprint: fingerprint.to_owned() };
        self.store_and_dispatch(account, events, Some(key)).await
    }

    async fn store_and_dispatch(
        &self,
        account: &AccountId,
        events: Vec<Event>,
        idempotency: Option<IdempotencyKey>,
    ) -> Result<Ingested, Error> {
        let routing = {
            let routes = self.shared.routes.read().unwrap_or_else(|p| p.into_inner());
            routes.route(account, &events)
        };
        let payloads: Vec<Arc<str>> = events.into_iter().map(|e| e.raw).collect();
        let count = payloads.len();
        let webhooks = Arc::new(routing.webhooks);
        let fingerprint = idempotency.as_ref().map(|idem| idem.fingerprint.clone());
        let per_event = Arc::new(routing.per_event);
        let store = {
            let (account, webhooks, payloads, per_event) =
                (account.clone(), webhooks.clone(), payloads.clone(), per_event.clone());
            move |conn: &mut db::Conn| {
                let now = now_millis();
                if let Some(idem) = &idempotency {
                    if let Some(first) = db::idempotency::lookup(conn, &account, &idem.key, now)? {
                        return Ok(StoreOutcome::Repeat(first));
                    }
                }
                let to_store: Vec<db::events::EventToStore> = payloads
                    .iter()
                    .zip(per_event.iter())
                    .map(|(payload, targets)| db::events::EventToStore { payload, webhooks: targets })
                    .collect();
                let event_ids = db::events::store(conn, &account, &webhooks, &to_store, now)?;
                if let Some(idem) = &idempotency {
                    db::idempotency::remember(conn, &account, &idem.key, &idem.fingerprint, count as i64, now)?;
                }
                Ok(StoreOutcome::Stored(event_ids))
            }
        };
        // The actors hear of the events from the writer thread, in commit order: each
        // actor sees its events in id order, which is what lets a batch be a range.
        let dispatch = {
            let registry = self.shared.registry.clone();
            move |outcome: &StoreOutcome| {
                if let StoreOutcome::Stored(event_ids) = outcome {
                    let event_ids = event_ids.clone();
                    registry.do_send(Dispatch { webhooks, targets: per_event, event_ids, payloads });
                }
            }
        };
        match self.shared.db.write_then(store, dispatch).await? {
            StoreOutcome::Stored(_) => {}
            StoreOutcome::Repeat(first) if Some(&first.fingerprint) == fingerprint.as_ref() => {
                return Ok(Ingested { accepted: first.accepted as usize, replayed: true });
            }
            StoreOutcome::Repeat(_) => {
                return Err(Error::Conflict(
                    "this Idempotency-Key was already used for a different request in the last 24 hours".into(),
                ))
            }
        }
        Ok(Ingested { accepted: count, replayed: false })
    }

    /// Makes a webhook's actor panic, as a bug would; the registry must bring it back
    /// with nothing lost. For tests of supervision only.
    #[doc(hidden)]
    pub async fn crash_webhook_actor(&self, webhook: &WebhookId) -> bool {
        self.shared.registry.send(CrashWebhook(webhook.clone())).await.unwrap_or(false)
    }

    /// Tells the actors about a created or changed webhook; resolves once the change is in
    /// effect for ingest.
    pub(crate) async fn webhook_changed(&self, webhook: Webhook) -> Result<(), Error> {
        self.shared
            .registry
            .send(WebhookChanged(webhook))
            .await
            .map_err(|e| Error::Internal(format!("registry unavailable: {e}")))
    }

    /// Tells the actors a webhook is gone.
    pub(crate) async fn webhook_removed(&self, account: AccountId, webhook: WebhookId) -> Result<(), Error> {
        self.shared
            .registry
            .send(WebhookRemoved { account, webhook })
            .await
            .map_err(|e| Error::Internal(format!("registry unavailable: {e}")))
    }
}

/// The answer to an ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingested {
    /// How many events were accepted (by the first request, for a repeat).
    pub accepted: usize,
    /// True when this was a repeat of an earlier request and nothing new was stored.
    pub replayed: bool,
}

struct IdempotencyKey {
    key: String,
    fingerprint: String,
}

enum StoreOutcome {
    Stored(Vec<i64>),
    Repeat(db::idempotency::Remembered),
}

/// Removes, in the background, delivery rows left behind for webhooks that no longer exist
/// (an ingest that raced a delete). They are never delivered; this only frees the space.
async fn sweep_orphans(db: Db) {
    let swept = async {
        let orphans = db.read(db::webhooks::orphaned_delivery_owners).await?;
        if orphans.is_empty() {
            return Ok(0);
        }
        db.write(move |conn| db::webhooks::sweep_orphans(conn, &orphans)).await
    };
    match swept.await {
        Ok(0) => {}
        Ok(removed) => log::info!("removed {removed} delivery rows of deleted webhooks"),
        Err(e) => log::warn!("could not sweep delivery rows of deleted webhooks (tried again at next start): {e}"),
    }
}

/// Makes sure the configured bootstrap account exists, or that some account does.
/// Returns the random key it generated, if it had to.
async fn ensure_account(db: &Db, config: &Config) -> Result<Option<String>, DbError> {
    let email = config.bootstrap_email.clone();
    if let Some(key) = config.bootstrap_api_key.clone() {
        db.write(move |conn| db::accounts::ensure_with_key(conn, "default", &email, &key)).await?;
        return Ok(None);
    }
    let key = db::accounts::generate_api_key();
    let stored_key = key.clone();
    let created = db
        .write(move |conn| {
            if db::accounts::count(conn)? > 0 {
                return Ok(false);
            }
            db::accounts::create(conn, "default", &email, &stored_key).map(|_| true)
        })
        .await?;
    Ok(created.then_some(key))
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// How long a graceful stop waits for in-flight work.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
