pub mod catalog;
pub mod events;
pub mod incidents;
pub mod lease;
#[cfg(test)]
mod testing_writers;
