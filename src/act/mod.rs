//! Actions: the exact requests each action sends, and (later) their execution.

pub mod render;
