//! Expert accounts: creating one, shared by the API (`POST /api/v1/experts`), the first run
//! (`POST /api/v1/setup`) and the command line (`switchboard expert add`), so all keep the
//! same rules; and the first run's one-time setup code.

use serde::Deserialize;

use crate::auth;
use crate::clock::Timestamp;
use crate::ids::ExpertId;
use crate::store::model::{Expert, LoginToken, Role};
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
    #[serde(default)]
    pub roles: Vec<Role>,
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
    create(store, checked(store, known_categories, new)?)
}

/// Stores a new account under its unique username.
fn create(store: &Store, expert: Expert) -> Result<Expert, AddExpertError> {
    match store.create_expert(&expert) {
        Ok(_) => Ok(expert),
        Err(StoreError::Taken) => Err(AddExpertError::Taken),
        Err(e) => Err(AddExpertError::Store(e)),
    }
}

/// The expert `new` describes, with a fresh id and its password hashed, if it keeps the rules.
fn checked(store: &Store, known_categories: &[String], new: NewExpert) -> Result<Expert, AddExpertError> {
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
    let mut roles = new.roles;
    roles.dedup();
    Ok(Expert {
        id: ExpertId(store.next_id().map_err(AddExpertError::Store)?),
        username,
        name: new.name.trim().to_owned(),
        password_hash: auth::hash_password(&new.password),
        categories: new.categories,
        certifications: new.certifications,
        max_concurrent: new.max_concurrent,
        created_at: Timestamp::now(),
        removed: false,
        bot: false,
        roles,
    })
}

/// How long a bot's token is valid: a bot runs unattended, so its token lasts until the bot
/// is removed (which revokes it), in practice.
pub const BOT_TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(10 * 365 * 24 * 3600);

/// A bot account (PRODUCT.md v1.1, "Bots"): an expert record marked `bot`, with no password
/// (none verifies against an empty hash, so it never logs in with one) and a username of its
/// own kind that no person's clashes with in practice. `claim_categories`: the categories
/// whose chats are claimed by certified experts, which no bot can answer.
pub fn add_bot(
    store: &Store,
    known_categories: &[String],
    claim_categories: &[String],
    name: &str,
    categories: Vec<String>,
) -> Result<Expert, AddExpertError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AddExpertError::Invalid("name is required".into()));
    }
    if categories.is_empty() {
        return Err(AddExpertError::Invalid("a bot answers at least one category".into()));
    }
    if let Some(c) = categories.iter().find(|c| !known_categories.contains(c)) {
        return Err(AddExpertError::Invalid(format!("unknown category {c:?}")));
    }
    if let Some(c) = categories.iter().find(|c| claim_categories.contains(c)) {
        return Err(AddExpertError::Invalid(format!(
            "category {c:?} is claimed by certified experts, not answered by bots"
        )));
    }
    let id = ExpertId(store.next_id().map_err(AddExpertError::Store)?);
    let bot = Expert {
        id,
        username: format!("bot:{id}"),
        name: name.to_owned(),
        password_hash: String::new(),
        categories,
        certifications: Vec::new(),
        max_concurrent: None,
        created_at: Timestamp::now(),
        removed: false,
        roles: Vec::new(),
        bot: true,
    };
    create(store, bot)
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

/// Logs `expert` in: a fresh token, stored as its digest, valid for `ttl`. Not yet durable:
/// the caller syncs before handing it out.
pub fn issue_token(
    store: &Store,
    expert: ExpertId,
    ttl: std::time::Duration,
) -> Result<(String, Timestamp), StoreError> {
    let token = auth::new_token();
    let expires_at = Timestamp::now().plus(ttl);
    store.put_token(&auth::token_digest(&token), &LoginToken { expert, expires_at })?;
    Ok((token, expires_at))
}

/// The first run: while no admin expert exists, a one-time code printed in the server's output
/// lets whoever can read that output create the first admin (`POST /api/v1/setup`), so a new
/// install needs neither a restart nor the admin token to get an account.
pub mod first_run {
    use super::*;

    /// Whether setup is needed: no active expert holds the admin role.
    pub fn needed(store: &Store) -> Result<bool, StoreError> {
        Ok(!store.experts()?.iter().any(Expert::is_admin))
    }

    /// The setup code to print at start: `None` once an admin exists. A code is kept in the
    /// store until it is used, so every node of a cluster, and a restart, prints the same one;
    /// a used code (its admin since removed, or a claim cut short by a crash) is replaced.
    pub fn code_at_start(store: &Store) -> Result<Option<String>, StoreError> {
        if !needed(store)? {
            return Ok(None);
        }
        if let Some(code) = store.setup_code()? {
            if !store.setup_claimed(&code)? {
                return Ok(Some(code));
            }
            store.forget_setup_code()?;
        }
        store.offer_setup_code(&auth::new_setup_code()).map(Some)
    }

    #[derive(Debug, thiserror::Error)]
    pub enum SetupError {
        /// An admin exists, or another request with the code made one first.
        #[error("setup is done: sign in as an admin")]
        Done,
        #[error("wrong setup code: it is printed in the server's output at start")]
        WrongCode,
        #[error(transparent)]
        Expert(#[from] AddExpertError),
    }

    /// Creates the first admin if `code` is the kept setup code and setup is still needed.
    /// Exactly one caller wins a given code, however many race with it. The first admin
    /// serves every category, so they can answer the first chat without another step.
    pub fn create_admin(
        store: &Store,
        known_categories: &[String],
        code: &str,
        mut new: NewExpert,
    ) -> Result<Expert, SetupError> {
        if !needed(store)? {
            return Err(SetupError::Done);
        }
        let kept = store.setup_code()?.ok_or(SetupError::WrongCode)?;
        if !auth::same_secret(&kept, code) {
            return Err(SetupError::WrongCode);
        }
        new.roles = vec![Role::Admin];
        new.categories = known_categories.to_vec();
        let expert = checked(store, known_categories, new)?;
        if !store.claim_setup(&kept, expert.id)? {
            return Err(SetupError::Done);
        }
        match store.create_expert(&expert) {
            Ok(_) => {}
            Err(StoreError::Taken) => {
                // Nobody was made admin: the code stays good for another username.
                store.release_setup(&kept)?;
                return Err(AddExpertError::Taken.into());
            }
            Err(e) => return Err(e.into()),
        }
        store.forget_setup_code()?;
        Ok(expert)
    }

    impl From<StoreError> for SetupError {
        fn from(e: StoreError) -> SetupError {
            SetupError::Expert(AddExpertError::Store(e))
        }
    }
}
