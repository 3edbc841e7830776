//! Expert accounts: creating one, shared by the API (`POST /api/v1/experts`) and the command
//! line (`switchboard expert add`), so both keep the same rules.

use serde::Deserialize;

use crate::auth;
use crate::clock::Timestamp;
use crate::ids::ExpertId;
use crate::store::model::Expert;
use crate::store::{Store, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewExpert {
    pub username: String,
    pub password: String,
    pub name: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub certifications: Vec<String>,
    pub max_concurrent: Option<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum AddExpertError {
    #[error("{0}")]
    Invalid(String),
    #[error("the username is taken")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
}

/// Creates an expert; shared by the API and `switchboard expert add`.
pub fn add_expert(
    store: &Store,
    known_categories: &[String],
    new: NewExpert,
) -> Result<Expert, AddExpertError> {
    let username = new.username.trim().to_owned();
    if username.is_empty() || new.name.trim().is_empty() {
        return Err(AddExpertError::Invalid("username and name are required".into()));
    }
    if new.password.len() < 8 {
        return Err(AddExpertError::Invalid("the password needs at least 8 characters".into()));
    }
    if let Some(c) = new.categories.iter().find(|c| !known_categories.contains(c)) {
        return Err(AddExpertError::Invalid(format!("unknown category {c:?}")));
    }
    if new.max_concurrent == Some(0) {
        return Err(AddExpertError::Invalid("max_concurrent must be at least 1".into()));
    }
    let expert = Expert {
        id: ExpertId(store.next_id().map_err(AddExpertError::Store)?),
        username,
        name: new.name.trim().to_owned(),
        password_hash: auth::hash_password(&new.password),
        categories: new.categories,
        certifications: new.certifications,
        max_concurrent: new.max_concurrent,
        created_at: Timestamp::now(),
        removed: false,
    };
    match store.create_expert(&expert) {
        Ok(_) => Ok(expert),
        Err(StoreError::Taken) => Err(AddExpertError::Taken),
        Err(e) => Err(AddExpertError::Store(e)),
    }
}

/// The expert a login token belongs to, if it is valid and unexpired and the account is not
/// removed.
pub fn expert_for_token(store: &Store, token: &str) -> Result<Option<Expert>, StoreError> {
    let Some(login) = store.token(&auth::token_digest(token))? else {
        return Ok(None);
    };
    if login.expires_at <= Timestamp::now() {
        return Ok(None);
    }
    Ok(store.expert(login.expert)?.filter(|e| !e.removed))
}
