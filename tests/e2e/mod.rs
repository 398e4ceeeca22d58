//! End-to-end harness: the real operator binary against real Prometheus and
//! Kafka-protocol broker processes, the Slack stand-in and the Kubernetes API
//! server stand-in, with synthetic workloads and the shipped playbooks
//! time-compressed. Each `tests/e2e_*.rs` binary includes it.
#![allow(dead_code)]

pub mod checks;
pub mod cluster;
pub mod operator;
pub mod playbooks;
pub mod seeds;
pub mod synth;
pub mod world;
