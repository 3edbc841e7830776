pub mod auth;
pub mod clock;
pub mod config;
pub mod ids;
pub mod lifecycle;
pub mod protocol;
pub mod store;
