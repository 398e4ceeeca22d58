//! Slack: one thread per incident, readable at a glance, never doubled.
//!
//! - Web API mode (bot token, scope `chat:write`): the incident's root message
//!   is posted with `chat.postMessage` and updated in place with `chat.update`;
//!   every later step is a reply (`thread_ts`). See [`thread`] for routing.
//! - Incoming-webhook mode: one standalone message per notice (see [`webhook`]).
//!
//! Delivery (see [`retry`]): `429` waits `Retry-After`, `5xx` backs off and
//! retries, a `chat.postMessage` that may have reached Slack is never sent
//! again. The root's `ts` is recorded in the Incident status (operator mode),
//! so a new leader continues the thread. Failures are counted
//! (`firebreak_deliveries_total{sink="slack"}`), logged, and added to the
//! incident's timeline. Nothing here blocks detection or actions.

mod args;
pub mod blocks;
mod client;
pub mod reply;
pub mod retry;
pub mod root;
mod sink;
mod status;
pub mod text;
pub mod thread;
mod threads;
pub mod view;
pub mod webhook;
mod worker;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod thread_tests;

pub use args::{SlackArgs, SlackConfigError};
pub use client::{JSON_UTF8, Secret};
pub use retry::RetryPolicy;
pub use sink::{SlackSettings, SlackSink};
pub use status::FAILED_EVENT;
pub use view::{Links, PlaybookView};
