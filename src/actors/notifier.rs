//! The notifier: sends the customer emails queued in the outbox and disables webhooks
//! whose failing spell outlived its deadline. It works in passes — woken at once when a
//! spell begins, and on a tick otherwise — so a mail server that is down never holds up
//! deliveries: a refused email is simply tried again later, with a growing wait.
//!
//! The disable deadline is set when the failure email has actually gone out (the customer
//! gets the full `--disable-after` to react), and it is stored, so a restart neither
//! forgets it nor sends the email twice.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use lettre::message::Mailbox;

use super::registry::{Registry, WebhookChanged};
use crate::db::{self, notifications::Kind, Db};
use crate::mail::{self, Mailer};
use crate::model::now_millis;

/// The most emails one pass sends.
const EMAILS_PER_PASS: i64 = 50;
/// The longest wait between two tries of an email.
const MAX_MAIL_RETRY: Duration = Duration::from_secs(300);

/// Do a pass now: something may be due.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Wake;

/// Tells the notifier where the registry is (they are started one after the other).
#[derive(Message)]
#[rtype(result = "()")]
pub struct UseRegistry(pub Addr<Registry>);

/// Sends emails and disables overdue webhooks.
pub struct Notifier {
    pass: Pass,
    busy: bool,
    again: bool,
}

impl Notifier {
    pub fn new(db: Db, mailer: Mailer, from: Mailbox, disable_after: Duration, retry_base: Duration) -> Self {
        Notifier {
            pass: Pass { db, mailer: Arc::new(mailer), from, disable_after, retry_base, registry: None },
            busy: false,
            again: false,
        }
    }

    /// How often to look for due work without being woken: often enough that a short
    /// test deadline is met closely, but never busier than every 10 ms nor lazier than
    /// once a second.
    fn tick(&self) -> Duration {
        (self.pass.disable_after / 10).clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    fn start_pass(&mut self, ctx: &mut Context<Self>) {
        if self.busy {
            self.again = true;
            return;
        }
        self.busy = true;
        self.again = false;
        let work = self.pass.clone();
        async move { work.run().await }
            .into_actor(self)
            .map(|more, act, ctx| {
                act.busy = false;
                if more || act.again {
                    act.start_pass(ctx);
                }
            })
            .spawn(ctx);
    }
}

/// What a pass needs, cloned out of the actor so the pass can be awaited on its own.
#[derive(Clone)]
struct Pass {
    db: Db,
    mailer: Arc<Mailer>,
    from: Mailbox,
    disable_after: Duration,
    retry_base: Duration,
    registry: Option<Addr<Registry>>,
}

impl Pass {
    /// Returns true when it left work for an immediate next pass.
    async fn run(self) -> bool {
        let disabled = match self.db.read(|conn| db::webhooks::any_overdue(conn, now_millis())).await {
            Ok(false) => Vec::new(),
            Ok(true) => {
                self.db.write(|conn| db::webhooks::disable_overdue(conn, now_millis())).await.unwrap_or_else(|e| {
                    log::error!("notifier: cannot disable overdue webhooks: {e}");
                    Vec::new()
                })
            }
            Err(e) => {
                log::error!("notifier: cannot check for webhooks to disable: {e}");
                Vec::new()
            }
        };
        for webhook in &disabled {
            log::warn!("webhook {} disabled: still failing after its deadline", webhook.id);
            if let Some(registry) = &self.registry {
                if registry.send(WebhookChanged(webhook.clone())).await.is_err() {
                    log::error!("notifier: the registry is gone");
                }
            }
        }
        let due = match self.db.read(|conn| db::notifications::due(conn, now_millis(), EMAILS_PER_PASS)).await {
            Ok(due) => due,
            Err(e) => {
                log::error!("notifier: cannot read the outbox: {e}");
                return false;
            }
        };
        let full = due.len() as i64 == EMAILS_PER_PASS;
        for notification in due {
            self.send(notification).await;
        }
        full
    }

    async fn send(&self, n: db::notifications::DueNotification) {
        let sent_at = now_millis();
        let disable_at = sent_at + self.disable_after.as_millis() as i64;
        let (id, webhook, spell, kind) = (n.id, n.webhook.id.clone(), n.spell_started_at, n.kind);
        // The email is recorded as sent (and the disable countdown started) before it goes
        // out, so a crash right after the mail server took it cannot send it a second
        // time; if sending fails, the record is undone and the email tried again later.
        // The same transaction reads the webhook afresh, so the email reports every batch
        // that failed up to this moment.
        let claim = {
            let webhook = webhook.clone();
            self.db.write(move |conn| {
                db::notifications::mark_sent(conn, id, sent_at)?;
                if kind == Kind::Failing {
                    db::webhooks::set_disable_deadline(conn, &webhook, spell, disable_at)?;
                }
                db::webhooks::find(conn, &webhook)
            })
        };
        let current = match claim.await {
            Ok(current) => current.unwrap_or(n.webhook),
            Err(e) => {
                log::error!(
                    "notifier: cannot record the {kind:?} email about webhook {webhook} as sent, not sending it yet: {e}"
                );
                return;
            }
        };
        let message = n.account_email.parse::<Mailbox>().map_err(|e| format!("bad account email: {e}")).and_then(
            |to| match kind {
                Kind::Failing => mail::failing_email(&self.from, &to, &current, disable_at),
                Kind::Disabled => mail::disabled_email(&self.from, &to, &current),
            },
        );
        let outcome = match message {
            Ok(message) => self.mailer.send(message).await,
            Err(e) => Err(e),
        };
        let recorded = match outcome {
            Ok(()) => {
                log::info!("notifier: sent the {kind:?} email about webhook {webhook}");
                Ok(())
            }
            Err(error) => {
                let wait = self.retry_base.saturating_mul(1 << n.attempts.clamp(0, 16)).min(MAX_MAIL_RETRY);
                log::warn!("notifier: email about webhook {webhook} not sent, trying again in {wait:?}: {error}");
                let next = now_millis() + wait.as_millis() as i64;
                self.db
                    .write(move |conn| {
                        db::notifications::mark_failed(conn, id, &error, next)?;
                        if kind == Kind::Failing {
                            db::webhooks::clear_disable_deadline(conn, &webhook, spell)?;
                        }
                        Ok(())
                    })
                    .await
            }
        };
        if let Err(e) = recorded {
            log::error!("notifier: cannot record an email's outcome: {e}");
        }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.tick(), |act, ctx| act.start_pass(ctx));
        self.start_pass(ctx);
    }
}

impl Handler<Wake> for Notifier {
    type Result = ();

    fn handle(&mut self, _msg: Wake, ctx: &mut Self::Context) {
        self.start_pass(ctx);
    }
}

impl Handler<UseRegistry> for Notifier {
    type Result = ();

    fn handle(&mut self, msg: UseRegistry, _ctx: &mut Self::Context) {
        self.pass.registry = Some(msg.0);
    }
}
