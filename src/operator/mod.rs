pub mod catalog;
pub mod lease;
