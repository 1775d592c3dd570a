//! Planner benchmark (placeholder while the planner is written).
fn main() {}
