use super::*;
use crate::cmd::keys::tests::{bulk, err, int, take_propagated, Harness};
