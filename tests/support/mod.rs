//! Helpers shared by the integration tests. Each test binary compiles this
//! module but uses only part of it, hence `dead_code` is allowed here.
#![allow(dead_code)]

pub mod apiserver;
pub mod kafka;
pub mod kube_history;
pub mod prometheus;
pub mod slack_blocks;
pub mod slack_lifecycle;
pub mod slack_server;
