//! Helpers shared by scenario tests (each test file that needs them declares `mod common;`).

pub mod subscriber;
