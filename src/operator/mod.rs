pub mod catalog;
pub mod controller;
pub mod lease;
pub mod status;
#[cfg(test)]
pub(crate) mod testing;
