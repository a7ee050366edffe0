//! Accounts and their API keys. A key is shown once, when it is made, and stored only as
//! its SHA-256 hash: a leaked database gives no usable key.

use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::schema::accounts;
use super::Conn;
use crate::model::{now_millis, AccountId, Millis};

/// An account as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = accounts)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    pub api_key_hash: String,
    pub created_at: Millis,
}

impl Account {
    pub fn account_id(&self) -> AccountId {
        AccountId::from_string(self.id.clone())
    }
}

/// A new random API key: `mh_` and 64 hex characters.
pub fn generate_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("mh_{}", hex::encode(bytes))
}

/// The form in which a key is stored and looked up.
pub fn hash_api_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Stores a new account for `api_key`.
pub fn create(conn: &mut Conn, name: &str, email: &str, api_key: &str) -> QueryResult<Account> {
    let account = Account {
        id: AccountId::generate().to_string(),
        name: name.to_owned(),
        email: email.to_owned(),
        api_key_hash: hash_api_key(api_key),
        created_at: now_millis(),
    };
    diesel::insert_into(accounts::table).values(&account).execute(conn)?;
    Ok(account)
}

/// The account a key belongs to, if any.
pub fn find_by_key(conn: &mut Conn, api_key: &str) -> QueryResult<Option<Account>> {
    accounts::table
        .filter(accounts::api_key_hash.eq(hash_api_key(api_key)))
        .select(Account::as_select())
        .first(conn)
        .optional()
}

/// The account with this name, if any.
pub fn find_by_name(conn: &mut Conn, name: &str) -> QueryResult<Option<Account>> {
    accounts::table.filter(accounts::name.eq(name)).select(Account::as_select()).first(conn).optional()
}

/// The account with this id.
pub fn get(conn: &mut Conn, id: &AccountId) -> QueryResult<Account> {
    accounts::table.find(id.as_str()).select(Account::as_select()).first(conn)
}

/// How many accounts exist.
pub fn count(conn: &mut Conn) -> QueryResult<i64> {
    accounts::table.count().get_result(conn)
}

/// Makes the key's hash the key of account `name`, creating the account if needed.
pub fn ensure_with_key(conn: &mut Conn, name: &str, email: &str, api_key: &str) -> QueryResult<Account> {
    match find_by_name(conn, name)? {
        Some(existing) => {
            let hash = hash_api_key(api_key);
            diesel::update(accounts::table.find(&existing.id))
                .set((accounts::api_key_hash.eq(&hash), accounts::email.eq(email)))
                .execute(conn)?;
            Ok(Account { api_key_hash: hash, email: email.to_owned(), ..existing })
        }
        None => create(conn, name, email, api_key),
    }
}
