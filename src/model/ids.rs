//! Identifiers. Webhook and account ids carry a prefix so a person can tell them apart in
//! logs; batch ids are 24 lowercase hex characters like the platform's own (a 4-byte
//! timestamp and 8 random bytes), so they sort roughly by creation and never collide.
//! An id is a shared string: the registry, the route table and the actor hold one copy.

use std::fmt;
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Wraps an id read from the database or a URL path (no validation: an
            /// unknown id simply finds nothing).
            pub fn from_string(s: impl Into<String>) -> Self {
                Self(Arc::from(s.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// A webhook's id: `wh_` and 24 hex characters.
    WebhookId
);
string_id!(
    /// An account's id: `acc_` and 16 hex characters.
    AccountId
);
string_id!(
    /// A batch's id: 24 lowercase hex characters, stable across retries.
    BatchId
);

impl WebhookId {
    pub fn generate() -> Self {
        Self::from_string(format!("wh_{}", random_hex(12)))
    }
}

impl AccountId {
    pub fn generate() -> Self {
        Self::from_string(format!("acc_{}", random_hex(8)))
    }
}

impl BatchId {
    pub fn generate() -> Self {
        let secs = chrono::Utc::now().timestamp() as u32;
        Self::from_string(format!("{:08x}{}", secs, random_hex(8)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_ids_are_24_lowercase_hex_and_unique() {
        let a = BatchId::generate();
        let b = BatchId::generate();
        assert_eq!(a.as_str().len(), 24);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn webhook_ids_are_prefixed() {
        assert!(WebhookId::generate().as_str().starts_with("wh_"));
        assert_eq!(WebhookId::generate().as_str().len(), 27);
    }
}
