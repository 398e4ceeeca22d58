pub mod catalog;
pub mod incidents;
pub mod lease;
#[cfg(test)]
mod testing_writers;
