//! Secrets at rest. Basic-auth passwords are stored sealed (ChaCha20-Poly1305 with a
//! random nonce per value) under a key that is not in the database: from `--secret-key`,
//! or generated once and kept in a file beside the database. A copy of the database alone
//! reveals no password. Sealed values stay sealed in memory too; they are opened only to
//! build a request's `Authorization` header.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "v1:";
const NONCE_LEN: usize = 12;

/// A secret as stored: `v1:` and base64 of nonce and ciphertext. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed(String);

impl Sealed {
    /// Wraps a stored value.
    pub fn from_stored(stored: String) -> Sealed {
        Sealed(stored)
    }

    /// The stored form.
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// True for a value written before sealing existed (plain text).
    pub fn is_plain(&self) -> bool {
        !self.0.starts_with(PREFIX)
    }
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(<redacted>)")
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the stored password cannot be decrypted (was the secret key changed?)")]
pub struct OpenError;

/// Seals and opens secrets with the engine's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

impl SecretBox {
    /// A box whose key is derived from a passphrase (`--secret-key`).
    pub fn from_passphrase(passphrase: &str) -> SecretBox {
        let key: [u8; 32] = Sha256::digest(passphrase.as_bytes()).into();
        SecretBox { cipher: ChaCha20Poly1305::new(Key::from_slice(&key)) }
    }

    /// The key kept in `path`; created (random, readable only by its owner) if missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<SecretBox> {
        match std::fs::read_to_string(path) {
            Ok(text) => Ok(Self::from_passphrase(text.trim())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                let text = hex::encode(key);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path)?;
                file.write_all(text.as_bytes())?;
                file.sync_all()?;
                Ok(Self::from_passphrase(&text))
            }
            Err(e) => Err(e),
        }
    }

    /// Seals a secret with a fresh random nonce.
    pub fn seal(&self, plain: &str) -> Sealed {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ciphertext = self.cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).unwrap_or_default();
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&ciphertext);
        Sealed(format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(bytes)))
    }

    /// Opens a sealed secret (a plain legacy value is returned as it is).
    pub fn open(&self, sealed: &Sealed) -> Result<String, OpenError> {
        let Some(encoded) = sealed.0.strip_prefix(PREFIX) else { return Ok(sealed.0.clone()) };
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| OpenError)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| OpenError)?;
        String::from_utf8(plain).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_with_a_fresh_nonce_and_opens_again() {
        let secrets = SecretBox::from_passphrase("a passphrase of some length");
        let a = secrets.seal("hunter2");
        let b = secrets.seal("hunter2");
        assert_ne!(a, b);
        assert!(!a.as_stored().contains("hunter2"));
        assert_eq!(secrets.open(&a).unwrap(), "hunter2");
        assert!(!format!("{a:?}").contains(a.as_stored()));
    }

    #[test]
    fn another_key_cannot_open_and_tampering_is_detected() {
        let secrets = SecretBox::from_passphrase("key one, long enough");
        let sealed = secrets.seal("pw");
        assert_eq!(SecretBox::from_passphrase("key two, long enough").open(&sealed), Err(OpenError));
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = engine.decode(&sealed.as_stored()[PREFIX.len()..]).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = Sealed::from_stored(format!("{PREFIX}{}", engine.encode(bytes)));
        assert_eq!(secrets.open(&tampered), Err(OpenError));
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.key");
        let first = SecretBox::load_or_create(&path).unwrap();
        let sealed = first.seal("pw");
        let again = SecretBox::load_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "pw");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
