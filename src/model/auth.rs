//! How a webhook authenticates to its endpoint. The password is a secret: `Debug` hides it
//! and the API's view of a webhook never includes it.

use std::fmt;

use base64::Engine as _;

use crate::secrets::{OpenError, Sealed, SecretBox};

/// The authentication sent with every delivery to a webhook's endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// The endpoint needs no authentication.
    None,
    /// `Authorization: Basic base64(username:password)`; the password stays sealed
    /// until a request is built.
    Basic { username: String, password: Sealed },
}

impl Auth {
    /// The value of the `Authorization` header, if any.
    pub fn header_value(&self, secrets: &SecretBox) -> Result<Option<String>, OpenError> {
        match self {
            Auth::None => Ok(None),
            Auth::Basic { username, password } => {
                let password = secrets.open(password)?;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                Ok(Some(format!("Basic {token}")))
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Basic { username, .. } => {
                f.debug_struct("Auth::Basic").field("username", username).field("password", &"<redacted>").finish()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header_is_base64_of_user_colon_password() {
        let secrets = SecretBox::from_passphrase("test passphrase, long");
        let auth = Auth::Basic { username: "hook-user".into(), password: secrets.seal("s3cret") };
        assert_eq!(auth.header_value(&secrets).unwrap().as_deref(), Some("Basic aG9vay11c2VyOnMzY3JldA=="));
        assert_eq!(Auth::None.header_value(&secrets).unwrap(), None);
    }

    #[test]
    fn debug_never_shows_the_password() {
        let secrets = SecretBox::from_passphrase("test passphrase, long");
        let auth = Auth::Basic { username: "u".into(), password: secrets.seal("hunter2") };
        let shown = format!("{auth:?}");
        assert!(!shown.contains("hunter2"));
        if let Auth::Basic { password, .. } = &auth {
            assert!(!shown.contains(password.as_stored()));
        }
    }
}
