//! Actions: the exact requests each action sends, and their execution.

pub mod execute;
pub mod render;
